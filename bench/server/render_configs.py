"""Write the benchmark's configs and wrk scripts into a work dir.

nginx answers the OpenAI spec's documented examples (tests/fixtures/openai:
`chat_completion.json`, `stream_text.sse`) as fixed bodies. Every gateway is a
pass-through to that one nginx: laneway (audit strict and batched), the LiteLLM
proxy and TensorZero's gateway each get a model `bench` (JSON upstream) and
`bench_stream` (SSE upstream), and one wrk script per target and kind.

    python bench/server/render_configs.py WORK_DIR UPSTREAM_PORT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "openai"
CLIENT_KEY = "bench-client-key"
# LiteLLM refuses to start without a master key (its client key); a bench-only value.
LITELLM_KEY = "sk-bench-3f9a1c7e5b2d4f60a8e1c9b7d3f5a2e4"

NGINX = """
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /v1/chat/completions {{
            default_type application/json;
            return 200 '{json_body}';
        }}
        location = /sse/v1/chat/completions {{
            default_type text/event-stream;
            return 200 '{sse_body}';
        }}
    }}
}}
"""

LANEWAY = """
providers:
  up:
    {{kind: openai_compatible, base_url: "http://127.0.0.1:{port}/v1", api_key: upstream-key}}
  upsse:
    {{kind: openai_compatible, base_url: "http://127.0.0.1:{port}/sse/v1", api_key: upstream-key}}
lanes:
  bench: {{primary: up/gpt-4o}}
  bench_stream: {{primary: upsse/gpt-4o}}
server:
  keys:
    - {{key: "{key}", name: bench}}
audit: {{url: "sqlite:///{work}/audit-{durability}.db", durability: {durability}}}
telemetry: {{metrics: true}}
"""

# No database: LiteLLM then keeps no spend logs (it needs PostgreSQL for them).
LITELLM = """
model_list:
  - model_name: bench
    litellm_params: {{model: openai/gpt-4o, api_base: "http://127.0.0.1:{port}/v1",
                      api_key: upstream-key}}
  - model_name: bench_stream
    litellm_params: {{model: openai/gpt-4o, api_base: "http://127.0.0.1:{port}/sse/v1",
                      api_key: upstream-key}}
litellm_settings:
  telemetry: false
general_settings:
  master_key: {key}
"""

# uvicorn's access log off for LiteLLM, as laneway's is by default.
LITELLM_LOG = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {
        "uvicorn": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING", "propagate": False},
        "LiteLLM": {"level": "WARNING"},
        "LiteLLM Proxy": {"level": "WARNING"},
    },
}

# No ClickHouse/PostgreSQL here: TensorZero disables its observability (no
# inference rows are stored), which it logs at start-up.
TENSORZERO = """
[gateway]
debug = false

[models.bench]
routing = ["up"]

[models.bench.providers.up]
type = "openai"
model_name = "gpt-4o"
api_base = "http://127.0.0.1:{port}/v1/"
api_key_location = "none"

[models.bench_stream]
routing = ["up"]

[models.bench_stream.providers.up]
type = "openai"
model_name = "gpt-4o"
api_base = "http://127.0.0.1:{port}/sse/v1/"
api_key_location = "none"
"""

WRK = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
{auth}
"""


def _nginx_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _wrk(work: Path, name: str, model: str, *, stream: bool, key: str | None) -> None:
    body: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello."}],
    }
    if stream:
        body["stream"] = True
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    (work / f"{name}.lua").write_text(WRK.format(body=json.dumps(body), auth=auth))


def main(work: Path, port: int) -> None:
    json_body = json.dumps(json.loads((FIXTURES / "chat_completion.json").read_text()))
    sse_body = (FIXTURES / "stream_text.sse").read_text()
    (work / "nginx.conf").write_text(
        NGINX.format(
            work=work,
            port=port,
            json_body=_nginx_literal(json_body),
            sse_body=_nginx_literal(sse_body),
        )
    )
    for durability in ("strict", "batched"):
        (work / f"laneway-{durability}.yaml").write_text(
            LANEWAY.format(port=port, key=CLIENT_KEY, work=work, durability=durability)
        )
    (work / "litellm.yaml").write_text(LITELLM.format(port=port, key=LITELLM_KEY))
    (work / "litellm-log.json").write_text(json.dumps(LITELLM_LOG))
    (work / "tensorzero.toml").write_text(TENSORZERO.format(port=port))
    _wrk(work, "direct-json", "gpt-4o", stream=False, key=None)
    _wrk(work, "direct-stream", "gpt-4o", stream=True, key=None)
    _wrk(work, "minimal-json", "gpt-4o", stream=False, key=None)
    for kind, stream in (("json", False), ("stream", True)):
        model = "bench_stream" if stream else "bench"
        for durability in ("strict", "batched"):
            _wrk(work, f"laneway-{durability}-{kind}", model, stream=stream, key=CLIENT_KEY)
        _wrk(work, f"litellm-{kind}", model, stream=stream, key=LITELLM_KEY)
        _wrk(
            work, f"tensorzero-{kind}", f"tensorzero::model_name::{model}", stream=stream, key=None
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
