"""Each provider's network path, resolved from `proxy:` and `tls:` (its own, else global).

Checked at load so a typo is an error naming the key, not a failed call later:
a proxy must be an `http://` or `https://` URL with a host (or `direct`), and a
`ca_file` must exist (a relative path is read from the config file's folder).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from laneway.config.schema import ConfigSpec, TlsSpec
from laneway.config.yaml_reader import PathKey
from laneway.errors import ConfigError
from laneway.http.settings import DIRECT, UpstreamSettings

ErrorAt = Callable[[str, PathKey, str], ConfigError]


def resolve_upstreams(
    spec: ConfigSpec, base_dir: Path, error: ErrorAt
) -> dict[str, UpstreamSettings]:
    """provider id -> its settings; `error(message, path, hint)` builds the load error."""
    _check_proxy(spec.proxy, ("proxy",), error)
    default_ca = _ca_file(spec.tls, base_dir, ("tls", "ca_file"), error)
    found: dict[str, UpstreamSettings] = {}
    for provider_id, provider in spec.providers.items():
        base: PathKey = ("providers", provider_id)
        _check_proxy(provider.proxy, (*base, "proxy"), error)
        own_ca = _ca_file(provider.tls, base_dir, (*base, "tls", "ca_file"), error)
        found[provider_id] = UpstreamSettings(
            proxy=provider.proxy if provider.proxy is not None else spec.proxy,
            proxy_is_own=provider.proxy is not None,
            ca_file=own_ca if own_ca is not None else default_ca,
        )
    return found


def _check_proxy(proxy: str | None, path: PathKey, error: ErrorAt) -> None:
    if proxy is None or proxy == DIRECT:
        return
    try:
        parts = urlsplit(proxy)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = urlsplit(""), False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise error(
            "proxy is not an http:// or https:// URL with a host",
            path,
            "write it as http://host:port (with user:password@ if the proxy needs them), "
            "or `direct` for no proxy",
        )


def _ca_file(tls: TlsSpec | None, base_dir: Path, path: PathKey, error: ErrorAt) -> str | None:
    if tls is None or tls.ca_file is None:
        return None
    file = Path(tls.ca_file).expanduser()
    if not file.is_absolute():
        file = base_dir / file
    if not file.is_file():
        raise error(
            f"tls.ca_file {tls.ca_file!r} is not a file (looked at {file})",
            path,
            "point it at a PEM file holding the CA certificate(s) to trust "
            "(a relative path is read from the config file's folder)",
        )
    return str(file)


__all__ = ["resolve_upstreams"]
