"""A web page cannot drive a laneway server: Host, Origin and Content-Type rules over real HTTP.

The attacks are what a browser can send without a CORS preflight (the Fetch
standard's "CORS-safelisted request-header" and "simple request" rules,
https://fetch.spec.whatwg.org/#cors-safelisted-request-header): a POST whose
`Content-Type` is `text/plain`, form-encoded or absent, with the page's
`Origin`; and, after DNS rebinding, any request whose `Host` is the
attacker's name (RFC 9110 section 7.2: the Host names the authority asked for).
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from server_harness import RunningServer, Serve, fake_config

HI = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
JSON = {"content-type": "application/json"}
EVIL = "http://evil.example"


def kill_switch(server: RunningServer, **headers: str) -> Any:
    return httpx.get(f"{server.url}/admin/kill-switch", headers=headers).json()


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


# -- open server (no client keys) ----------------------------------------------------


def test_a_text_plain_post_from_a_foreign_page_cannot_flip_the_kill_switch(serve: Serve) -> None:
    server = serve()
    url = f"{server.url}/admin/kill-switch"
    forged = httpx.post(
        url, content=b'{"on": true}', headers={"content-type": "text/plain", "origin": EVIL}
    )
    assert forged.status_code == 403
    assert error_code(forged) == "origin_not_allowed"
    assert "server.allowed_origins" in forged.json()["error"]["message"]
    no_origin = httpx.post(url, content=b'{"on": true}', headers={"content-type": "text/plain"})
    assert no_origin.status_code == 415
    assert error_code(no_origin) == "unsupported_media_type"
    assert "application/json" in no_origin.json()["error"]["message"]
    assert kill_switch(server) == {"kill_switch": False}
    local_page = httpx.post(url, json={"on": True}, headers={"origin": "http://localhost:5173"})
    assert local_page.status_code == 200
    assert kill_switch(server) == {"kill_switch": True}


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"],
)
def test_a_chat_post_that_is_not_json_runs_nothing(serve: Serve, content_type: str | None) -> None:
    server = serve()
    headers = {} if content_type is None else {"content-type": content_type}
    answer = httpx.post(f"{server.url}/v1/chat/completions", content=b"{}", headers=headers)
    assert "content-type" in answer.request.headers or content_type is None
    assert answer.status_code == 415
    assert set(answer.json()["error"]) == {"message", "type", "param", "code"}
    assert answer.headers["x-request-id"]
    assert server.fake.calls == []


def test_json_with_a_charset_is_json(serve: Serve) -> None:
    server = serve()
    server.fake.enqueue("c", text="fine")
    answer = httpx.post(
        f"{server.url}/v1/chat/completions",
        content=httpx.Request("POST", "http://x", json=HI).content,
        headers={"content-type": "Application/JSON; charset=utf-8"},
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8080", "127.0.0.1.nip.io", "10.0.0.5", "[fd00::1]"]
)
def test_a_foreign_host_is_refused_dns_rebinding(serve: Serve, host: str) -> None:
    server = serve()
    models = httpx.get(f"{server.url}/v1/models", headers={"host": host})
    assert models.status_code == 421
    assert error_code(models) == "host_not_allowed"
    assert "server.allowed_hosts" in models.json()["error"]["message"]
    chat = httpx.post(f"{server.url}/v1/chat/completions", json=HI, headers={"host": host})
    assert chat.status_code == 421
    assert server.fake.calls == []


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8080", "LOCALHOST", "127.0.0.1", "127.0.0.2:1", "[::1]:9"]
)
def test_loopback_names_are_answered_on_any_port(serve: Serve, host: str) -> None:
    server = serve()
    assert httpx.get(f"{server.url}/v1/models", headers={"host": host}).status_code == 200


def test_health_probes_answer_any_host(serve: Serve) -> None:
    """Load balancers probe by IP address; the probes reveal nothing."""
    server = serve()
    for path in ("/healthz", "/readyz"):
        assert httpx.get(server.url + path, headers={"host": "10.1.2.3:8080"}).status_code == 200
    assert httpx.get(server.url + "/metrics", headers={"host": "10.1.2.3"}).status_code == 421


def test_a_request_without_host_is_refused(serve: Serve) -> None:
    server = serve()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400")
    assert b'"host_not_allowed"' in answer


def test_allowed_hosts_and_origins_let_listed_names_in(serve: Serve) -> None:
    server = serve(
        fake_config(
            server={
                "allowed_hosts": ["gw.example", "*.corp.example", "box.example:8443"],
                "allowed_origins": ["https://chat.example"],
            }
        )
    )
    url = f"{server.url}/v1/models"
    for host in ("gw.example", "GW.example:80", "a.corp.example", "box.example:8443", "[::1]"):
        assert httpx.get(url, headers={"host": host}).status_code == 200, host
    for host in ("corp.example", "box.example:8444", "gw.example.evil"):
        assert httpx.get(url, headers={"host": host}).status_code == 421, host
    listed = httpx.get(url, headers={"origin": "https://chat.example"})
    assert listed.status_code == 200
    other = httpx.get(url, headers={"origin": "https://chat.example.evil"})
    assert other.status_code == 403
    assert httpx.get(url, headers={"origin": "null"}).status_code == 403


# -- server with client keys -------------------------------------------------------------


def test_with_keys_any_host_and_origin_is_answered_unless_listed(serve: Serve) -> None:
    """The key is the guard: a page cannot add `Authorization` without a preflight."""
    keyed = {"keys": [{"key": "k"}]}
    server = serve(fake_config(server=keyed))
    auth = {"authorization": "Bearer k", "host": "api.example", "origin": EVIL}
    assert httpx.get(f"{server.url}/v1/models", headers=auth).status_code == 200
    plain = httpx.post(
        f"{server.url}/v1/chat/completions",
        content=b"{}",
        headers={"authorization": "Bearer k", "content-type": "text/plain"},
    )
    assert plain.status_code == 415
    listed = serve(fake_config(server={**keyed, "allowed_hosts": ["api.example"]}))
    assert httpx.get(f"{listed.url}/v1/models", headers=auth).status_code == 200
    other = {**auth, "host": "other.example"}
    refused = httpx.get(f"{listed.url}/v1/models", headers=other)
    assert refused.status_code == 421
    assert "and those in server.allowed_hosts" in refused.json()["error"]["message"]


def test_bad_allowed_entries_are_config_errors() -> None:
    from laneway.config.schema import ServerSpec

    with pytest.raises(ValueError, match="not URLs"):
        ServerSpec.model_validate({"allowed_hosts": ["https://gw.example/"]})
    with pytest.raises(ValueError, match="scheme://host"):
        ServerSpec.model_validate({"allowed_origins": ["chat.example"]})
