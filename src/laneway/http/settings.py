"""How one provider's calls leave the machine: through which proxy, trusting which CAs.

`UpstreamSettings` is resolved per provider from config (`proxy:`, `tls.ca_file`,
the provider's own winning over the global one) and hashable, so providers that
agree share one connection pool.

Proxies: a `proxy:` set on the provider is used for it; otherwise the global
`proxy:`, else the environment's `HTTPS_PROXY` / `HTTP_PROXY` (upper or lower
case, as curl and Python read them), and for those two `NO_PROXY` names the hosts
that go direct. `proxy: direct` turns every proxy off for a provider.

TLS: the operating system's trust store (through `truststore`), with
`tls.ca_file` added to it, never replacing it, so a corporate CA does not cost
the public ones.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from laneway.errors import ConfigError

#: `proxy: direct` on a provider: no proxy for it, whatever the environment says
DIRECT = "direct"


@dataclass(frozen=True, slots=True, repr=False)
class UpstreamSettings:
    """One provider's network path; equal settings share a transport.

    Its repr masks a proxy password, so a logged config never shows one.
    """

    #: a proxy URL (`http://host:3128`, with `user:pass@` if it needs them), `direct`,
    #: or None for the environment's
    proxy: str | None = None
    #: whether `proxy` was set on the provider itself (NO_PROXY does not apply then)
    proxy_is_own: bool = False
    #: a PEM file of CA certificates trusted in addition to the system's
    ca_file: str | None = None
    #: the most a TCP (and TLS) connect may take, within the call's own timeout
    connect_timeout_s: float = 10.0

    def __repr__(self) -> str:
        proxy = None if self.proxy is None else masked_proxy(self.proxy, "***")
        return (
            f"UpstreamSettings(proxy={proxy!r}, proxy_is_own={self.proxy_is_own}, "
            f"ca_file={self.ca_file!r}, connect_timeout_s={self.connect_timeout_s})"
        )


def proxy_for(url: str, settings: UpstreamSettings, env: Mapping[str, str]) -> str | None:
    """The proxy URL a call to `url` goes through, or None to go direct."""
    if settings.proxy == DIRECT:
        return None
    if settings.proxy is not None and settings.proxy_is_own:
        return settings.proxy
    proxies = _env_proxies(env)
    host = url.partition("://")[2].split("/", 1)[0].rsplit("@", 1)[-1]
    if "no" in proxies and urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None
    if settings.proxy is not None:
        return settings.proxy
    scheme = url.partition("://")[0].lower()
    return proxies.get(scheme) or None


def _env_proxies(env: Mapping[str, str]) -> dict[str, str]:
    """`https`, `http` and `no` from the environment, lower case winning (as curl's)."""
    found: dict[str, str] = {}
    for name in ("https", "http", "no"):
        value = env.get(f"{name}_proxy") or env.get(f"{name.upper()}_PROXY")
        if value:
            found[name] = value.strip()
    return found


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's trust store, plus the CAs in `ca_file` when one is set."""
    import truststore

    context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file is not None:
        path = Path(ca_file).expanduser()
        try:
            context.load_verify_locations(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"tls.ca_file {ca_file!r} cannot be read as PEM CA certificates "
                f"({type(exc).__name__}: {exc})",
                hint="point tls.ca_file at a PEM file holding the CA certificate(s) to trust",
            ) from exc
    return context


def shown_proxy(proxy: str) -> str:
    """A proxy URL for a message: without the user and password it may carry."""
    scheme, sep, rest = proxy.partition("://")
    authority = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}{sep}{authority}" if sep else authority


def masked_proxy(proxy: str, mask: str) -> str:
    """A proxy URL with its password (if any) replaced by `mask`, for `config show`."""
    scheme, sep, rest = proxy.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return proxy
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:{mask}@{host}"
