"""Which requests the server answers at all: Host, Origin and Content-Type rules.

An open server (no client keys) on 127.0.0.1 is still reachable from every web
page its user opens. A page may POST to it without asking (a `text/plain` form
or `fetch` needs no CORS preflight), and a page whose name the attacker points
at 127.0.0.1 (DNS rebinding) may even read its answers. Three rules close that:

    Host          loopback names (localhost, 127.0.0.0/8, [::1], any port) and
                  `server.allowed_hosts`; else 421. Open servers always; with
                  keys only once `allowed_hosts` is set.
    Origin        a browser's `Origin` must be a loopback origin or listed in
                  `server.allowed_origins`; else 403. Open servers always; with
                  keys only once `allowed_origins` is set.
    Content-Type  a POST says `application/json`; else 415. Always: a browser
                  sends that cross-origin only after a preflight laneway never
                  grants, and the OpenAI SDKs always send it.

`/healthz` and `/readyz` skip the Host and Origin rules: they reveal nothing
and load balancers probe them by IP address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from laneway.config.schema import ServerSpec
from laneway.server.asgi import Request
from laneway.server.errors import ApiError

#: paths answered whatever the Host and Origin (probes by IP address)
PROBES = frozenset({"/healthz", "/readyz"})
_CACHE_MAX = 1024


def split_host(value: str) -> tuple[str, str | None]:
    """(name, port or None) of a Host value; an IPv6 literal loses its brackets."""
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        return name, rest[1:] if rest.startswith(":") else None
    name, sep, port = value.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name, port
    return value, None


def is_loopback_name(name: str) -> bool:
    """localhost, or an IP address of the loopback interface."""
    name = name.rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class _Rule:
    """A yes/no rule on one header's value, memoised (bounded): clients repeat their headers."""

    def __init__(self) -> None:
        self._seen: dict[bytes, bool] = {}

    def allows(self, header: bytes) -> bool:
        known = self._seen.get(header)
        if known is None:
            if len(self._seen) >= _CACHE_MAX:
                self._seen.clear()
            known = self._seen[header] = self._decide(header)
        return known

    def _decide(self, header: bytes) -> bool:
        raise NotImplementedError


class HostRule(_Rule):
    """Loopback names, plus `allowed_hosts` patterns (`*` any, `*.example.com` its subdomains).

    A pattern with a port matches that port only; without one, any port.
    """

    def __init__(self, patterns: Sequence[str]) -> None:
        super().__init__()
        self._any = "*" in patterns
        self._patterns = tuple(split_host(pattern.lower()) for pattern in patterns)

    def _decide(self, header: bytes) -> bool:
        if self._any:
            return True
        name, port = split_host(header.decode("latin-1").strip().lower())
        if is_loopback_name(name):
            return True
        return any(
            fnmatchcase(name, pattern) and wanted in (None, port)
            for pattern, wanted in self._patterns
        )


class OriginRule(_Rule):
    """Loopback origins (http or https, any port), plus `allowed_origins` (`*`: any)."""

    def __init__(self, origins: Sequence[str]) -> None:
        super().__init__()
        self._any = "*" in origins
        self._listed = frozenset(origins)

    def _decide(self, header: bytes) -> bool:
        origin = header.decode("latin-1").strip().lower()
        if self._any or origin in self._listed:
            return True
        try:
            parts = urlsplit(origin)
            hostname = parts.hostname
        except ValueError:  # e.g. an unclosed IPv6 bracket
            return False
        return (
            parts.scheme in ("http", "https")
            and hostname is not None
            and (is_loopback_name(hostname))
        )


@dataclass(frozen=True, slots=True)
class RequestGuard:
    """The three rules for one server; `refusal` runs before any route."""

    hosts: HostRule | None
    origins: OriginRule | None
    listed_hosts: bool = False
    open_server: bool = False

    @classmethod
    def from_spec(cls, server: ServerSpec, *, open_server: bool) -> RequestGuard:
        listed_hosts, listed_origins = server.allowed_hosts, server.allowed_origins
        return cls(
            hosts=HostRule(listed_hosts) if open_server or listed_hosts else None,
            origins=OriginRule(listed_origins) if open_server or listed_origins else None,
            listed_hosts=bool(listed_hosts),
            open_server=open_server,
        )

    def refusal(self, req: Request, *, takes_body: bool) -> ApiError | None:
        """Why `req` is not answered, or None. `takes_body`: a POST to a known route."""
        if req.path not in PROBES:
            if self.hosts is not None:
                host = req.headers.get(b"host")
                if host is None:
                    return _no_host()
                if not self.hosts.allows(host):
                    return self._foreign_host(host)
            origin = req.headers.get(b"origin")
            if self.origins is not None and origin is not None and not self.origins.allows(origin):
                return _foreign_origin(origin, open_server=self.open_server)
        if takes_body:
            content_type = req.headers.get(b"content-type")
            if not is_json(content_type):
                return _not_json(content_type)
        return None

    def _foreign_host(self, host: bytes) -> ApiError:
        shown = host.decode("latin-1")[:100]
        listed = " and those in server.allowed_hosts" if self.listed_hosts else ""
        return ApiError(
            421,
            f"this server does not answer for Host {shown!r}: it answers loopback names "
            f"(localhost, 127.0.0.1, [::1]){listed}. If clients reach it by this name, "
            "add the name to server.allowed_hosts",
            type="invalid_request_error",
            code="host_not_allowed",
        )


def is_json(content_type: bytes | None) -> bool:
    """`application/json`, with or without parameters (`; charset=utf-8`)."""
    if content_type is None:
        return False
    if content_type == b"application/json":  # as the SDKs send it
        return True
    return content_type.partition(b";")[0].strip().lower() == b"application/json"


def _no_host() -> ApiError:
    return ApiError(
        400,
        "the request has no Host header; send the name the server is reached by "
        "(HTTP/1.1 requires it)",
        type="invalid_request_error",
        code="host_not_allowed",
    )


def _foreign_origin(origin: bytes, *, open_server: bool) -> ApiError:
    shown = origin.decode("latin-1")[:100]
    why = (
        "this server has no client keys, so any page could use it. Add the origin to "
        "server.allowed_origins, or configure server.keys"
        if open_server
        else "it is not in server.allowed_origins; add it there to allow it"
    )
    return ApiError(
        403,
        f"requests from web pages at {shown!r} are refused: {why}",
        type="permission_error",
        code="origin_not_allowed",
    )


def _not_json(content_type: bytes | None) -> ApiError:
    got = "none" if content_type is None else repr(content_type.decode("latin-1")[:100])
    return ApiError(
        415,
        f"a POST body must be JSON sent with `Content-Type: application/json` (got {got}); "
        "the OpenAI SDKs send it, with curl add -H 'content-type: application/json'",
        type="invalid_request_error",
        code="unsupported_media_type",
    )
