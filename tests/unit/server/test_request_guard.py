"""`request_guard`'s parsing of Host and Origin values (RFC 9110 section 7.2: `uri-host
[ ":" port ]`, an IPv6 literal in brackets; Origin: RFC 6454 section 7)."""

from __future__ import annotations

import pytest

from laneway.server.request_guard import HostRule, OriginRule, is_json, split_host


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gw.example", ("gw.example", None)),
        ("gw.example:8080", ("gw.example", "8080")),
        ("[::1]", ("::1", None)),
        ("[fd00::1]:443", ("fd00::1", "443")),
        ("gw.example:http", ("gw.example:http", None)),
        ("::1", ("::1", None)),  # no brackets: not a port after the last colon
    ],
)
def test_split_host(value: str, expected: tuple[str, str | None]) -> None:
    assert split_host(value) == expected


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        (b"localhost.", True),
        (b"127.9.9.9:1", True),
        (b"[::1]", True),
        (b"[fd00::1]:8443", True),
        (b"[fd00::1]:8444", False),
        (b"x.corp.example", True),
        (b"x.corp.example.evil", False),
        (b"evil\xff", False),
    ],
)
def test_host_rule(host: bytes, allowed: bool) -> None:
    rule = HostRule(["*.corp.example", "[fd00::1]:8443"])
    assert rule.allows(host) is allowed
    assert rule.allows(host) is allowed  # the memo gives the same answer


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (b"http://localhost:3000", True),
        (b"https://127.0.0.1", True),
        (b"http://[::1]:8080", True),
        (b"https://app.example", True),
        (b"https://app.example:8443", False),
        (b"file://localhost", False),
        (b"null", False),
        (b"http://[::1", False),  # unclosed bracket: refused, not a 500
    ],
)
def test_origin_rule(origin: bytes, allowed: bool) -> None:
    assert OriginRule(["https://app.example"]).allows(origin) is allowed


@pytest.mark.parametrize(
    ("content_type", "json"),
    [
        (b"application/json", True),
        (b"application/json; charset=utf-8", True),
        (b" Application/JSON ", True),
        (b"application/jsonp", False),
        (b"text/plain", False),
        (None, False),
    ],
)
def test_is_json(content_type: bytes | None, json: bool) -> None:
    assert is_json(content_type) is json
