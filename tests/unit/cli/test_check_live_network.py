"""`laneway check --live` names certificate, redirect and proxy problems and their fix.

Each upstream is a real local server in a thread (stdlib `http.server`, with TLS
from a `trustme` CA where needed), so the probe crosses the real default client.
The OpenAI-compatible probe is `GET {base_url}/models` (OpenAI API reference,
"List models": https://platform.openai.com/docs/api-reference/models/list).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from typer.testing import CliRunner

from laneway.cli.main import app

Serve = Callable[[type[BaseHTTPRequestHandler], ssl.SSLContext | None], str]


class Moved(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(301)
        self.send_header("Location", "https://api.example.test/v2/models")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Models(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"object":"list","data":[]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class RefusingProxy(BaseHTTPRequestHandler):
    def do_CONNECT(self) -> None:
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[ThreadingHTTPServer] = []

    def start(handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        scheme = "https" if tls else "http"
        return f"{scheme}://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def tls_for(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


def check_live(tmp_path: Path, provider: str, extra: str = "") -> str:
    config = tmp_path / "laneway.yaml"
    config.write_text(
        f"providers:\n  vllm: {{{provider}}}\n{extra}lanes: {{a: {{primary: vllm/m}}}}\n"
    )
    result = CliRunner().invoke(app, ["check", "--live", "--config", str(config)], env={})
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def test_an_unknown_authority_says_to_set_tls_ca_file(
    tmp_path: Path, serve: Serve, authority: trustme.CA
) -> None:
    url = serve(Models, tls_for(authority))
    output = check_live(tmp_path, f"kind: openai_compatible, base_url: {url}/v1, api_key: k")
    assert "certificate signed by an unknown authority: set tls.ca_file" in output
    assert "fix: set providers.vllm.tls.ca_file" in output


def test_with_tls_ca_file_the_same_server_passes(
    tmp_path: Path, serve: Serve, authority: trustme.CA
) -> None:
    url = serve(Models, tls_for(authority))
    authority.cert_pem.write_to_path(str(tmp_path / "corp-ca.pem"))
    config = tmp_path / "laneway.yaml"
    config.write_text(
        f"providers:\n  vllm: {{kind: openai_compatible, base_url: {url}/v1, api_key: k,"
        " tls: {ca_file: corp-ca.pem}}\nlanes: {a: {primary: vllm/m}}\n"
    )
    result = CliRunner().invoke(app, ["check", "--live", "--config", str(config)], env={})
    assert result.exit_code == 0, result.output
    assert "live: vllm ok" in result.output


def test_a_redirect_names_the_base_url_to_set(tmp_path: Path, serve: Serve) -> None:
    url = serve(Moved, None)
    output = check_live(tmp_path, f"kind: openai_compatible, base_url: {url}/v1, api_key: k")
    assert "redirected (301) to https://api.example.test/v2/models" in output
    assert "set providers.vllm.base_url to https://api.example.test/v2" in output


def test_a_proxy_refusing_connect_says_so(
    tmp_path: Path, serve: Serve, authority: trustme.CA
) -> None:
    proxy = serve(RefusingProxy, None)
    url = serve(Models, tls_for(authority))
    output = check_live(
        tmp_path, f"kind: openai_compatible, base_url: {url}/v1, api_key: k, proxy: {proxy}"
    )
    assert f"proxy {proxy} refused CONNECT" in output
    assert "fix: check providers.vllm.proxy" in output


def test_a_provider_reached_through_a_proxy_says_so(tmp_path: Path, serve: Serve) -> None:
    """The forward proxy here is the stdlib server answering every absolute-form GET."""
    proxy = serve(Models, None)
    config = tmp_path / "laneway.yaml"
    config.write_text(
        "providers:\n  vllm: {kind: openai_compatible, base_url: http://models.lan/v1, "
        f"api_key: k, proxy: 'http://user:pw@{proxy.removeprefix('http://')}'}}\n"
        "lanes: {a: {primary: vllm/m}}\n"
    )
    result = CliRunner().invoke(app, ["check", "--live", "--config", str(config)], env={})
    assert result.exit_code == 0, result.output
    assert f"live: vllm ok (via proxy {proxy})" in result.output
    assert "pw@" not in result.output
