"""Run TensorZero's HTTP gateway from its PyPI wheel, for the server benchmark.

The `tensorzero` wheel ships no `gateway` executable; its native module embeds
the whole Rust gateway (axum + tokio, the same code as the standalone binary)
and `tensorzero._start_http_gateway` serves it over HTTP on a free loopback
port (this is what the wheel's `patch_openai_client` uses). Python only starts
it and then sleeps; every request is handled by the Rust runtime's threads.

    PEERS_VENV/bin/python bench/server/tensorzero_gateway.py CONFIG_TOML URL_FILE

Writes the gateway's OpenAI base URL (`http://127.0.0.1:PORT/openai/v1`) to
URL_FILE once it is serving, and stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import tensorzero  # type: ignore[import-not-found]


def main(config: str, url_file: Path) -> None:
    gateway = tensorzero._start_http_gateway(
        config_file=config,
        clickhouse_url=None,
        postgres_url=None,
        valkey_url=None,
        async_setup=False,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    url_file.write_text(gateway.base_url)
    stop.wait()
    gateway.close()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
