"""`proxy:` and `tls:`, globally and per provider, resolved into each provider's path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trustme

from laneway.config import ConfigError, load_config
from laneway.http import UpstreamSettings


def _config(**sections: Any) -> dict[str, Any]:
    providers = sections.pop("providers", {})
    return {
        "providers": {
            "local": {"kind": "local"},
            "oai": {"kind": "openai", "api_key": "sk-x"},
            **providers,
        },
        "lanes": {"default": {"primary": "local/echo"}},
        **sections,
    }


def test_without_keys_every_provider_takes_the_environments_path() -> None:
    config = load_config(_config(), env={})
    assert config.upstream["oai"] == UpstreamSettings()


def test_a_providers_own_settings_beat_the_global_ones(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.pem", tmp_path / "theirs.pem"
    trustme.CA().cert_pem.write_to_path(str(ours))
    trustme.CA().cert_pem.write_to_path(str(theirs))
    data = _config(
        proxy="http://corp:3128",
        tls={"ca_file": str(ours)},
        providers={
            "vllm": {
                "kind": "openai_compatible",
                "base_url": "https://vllm.lan/v1",
                "proxy": "direct",
                "tls": {"ca_file": str(theirs)},
            }
        },
    )
    config = load_config(data, env={})
    assert config.upstream["oai"] == UpstreamSettings(proxy="http://corp:3128", ca_file=str(ours))
    assert config.upstream["vllm"] == UpstreamSettings(
        proxy="direct", proxy_is_own=True, ca_file=str(theirs)
    )


def test_a_relative_ca_file_is_read_beside_the_config_file(tmp_path: Path) -> None:
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "corp-ca.pem"))
    file = tmp_path / "laneway.yaml"
    file.write_text(
        "providers:\n  local: {kind: local}\nlanes:\n  default: {primary: local/echo}\n"
        "tls: {ca_file: corp-ca.pem}\n"
    )
    config = load_config(file, env={})
    assert config.upstream["local"].ca_file == str(tmp_path / "corp-ca.pem")


@pytest.mark.parametrize("proxy", ["corp:3128", "socks5://corp:1080", "http://", "http://h:0"])
def test_a_proxy_that_is_not_an_http_url_is_refused_at_load(proxy: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_config(providers={"oai": {"kind": "openai", "proxy": proxy}}), env={})
    assert caught.value.path == "providers.oai.proxy"
    assert "http://host:port" in str(caught.value)


def test_a_missing_ca_file_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tls={"ca_file": str(tmp_path / "nope.pem")}), env={})
    assert caught.value.path == "tls.ca_file"
    assert "is not a file" in str(caught.value)
