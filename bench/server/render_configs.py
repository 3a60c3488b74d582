"""Write the benchmark's nginx config, laneway config and wrk scripts into a work dir.

nginx answers the OpenAI spec's documented examples (tests/fixtures/openai:
`chat_completion.json`, `stream_text.sse`) as fixed bodies.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "openai"
CLIENT_KEY = "bench-client-key"

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
audit: {{url: "sqlite:///{work}/audit.db", durability: batched}}
telemetry: {{metrics: true}}
"""

WRK = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""


def _nginx_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def main(work: Path, upstream_port: int) -> None:
    json_body = json.dumps(json.loads((FIXTURES / "chat_completion.json").read_text()))
    sse_body = (FIXTURES / "stream_text.sse").read_text()
    (work / "nginx.conf").write_text(
        NGINX.format(
            work=work,
            port=upstream_port,
            json_body=_nginx_literal(json_body),
            sse_body=_nginx_literal(sse_body),
        )
    )
    (work / "laneway.yaml").write_text(
        LANEWAY.format(port=upstream_port, key=CLIENT_KEY, work=work)
    )
    messages = [{"role": "user", "content": "Say hello."}]
    bodies = {
        "json": {"model": "bench", "messages": messages},
        "stream": {"model": "bench_stream", "messages": messages, "stream": True},
        "direct": {"model": "gpt-4o", "messages": messages},
    }
    for name, body in bodies.items():
        (work / f"{name}.lua").write_text(WRK.format(body=json.dumps(body), key=CLIENT_KEY))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
