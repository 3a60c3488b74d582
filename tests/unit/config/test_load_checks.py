"""Settings that would fail only when a Gateway is built are refused at load instead.

Each refusal uses the stores' own URL rules (`config/store_urls.py`), so a URL
accepted here is one the audit and state stores can open, and the reverse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from laneway.config import ConfigError, load_config
from laneway.config.store_urls import parse_store_url
from laneway.state import open_state


def _config(providers: dict[str, Any] | None = None, **sections: Any) -> dict[str, Any]:
    """A valid config (lane `default` on local/echo) plus `providers` and `sections`."""
    data: dict[str, Any] = {
        "providers": {"local": {"kind": "local"}, **(providers or {})},
        "lanes": {"default": {"primary": "local/echo"}},
    }
    data.update(sections)
    return data


def _refusal(data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(data, env={})
    return caught.value


@pytest.mark.parametrize(
    "url", ["memory://", "redis://127.0.0.1:6379/0", "rediss://cache:6380/1", "unix:///tmp/r.sock"]
)
def test_state_urls_the_store_opens_load(url: str) -> None:
    assert load_config(_config(state={"url": url}), env={}).spec.state.url == url
    open_state(url)  # the same rule: what loads also opens


@pytest.mark.parametrize("url", ["reddis://x", "memcached://x", "localhost:6379", ""])
def test_state_url_without_a_backend_is_refused_at_load(url: str) -> None:
    error = _refusal(_config(state={"url": url}))
    assert error.path == "state.url"
    assert error.file == "<mapping>"
    assert error.hint is not None
    assert "memory://" in error.hint
    assert "redis://" in error.hint


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///laneway.db",
        "sqlite:////var/lib/laneway/audit.db",
        "postgresql://laneway@db/laneway?schema=audit",
        "postgres://u@db/x",
    ],
)
def test_audit_urls_the_store_understands_load(url: str) -> None:
    assert load_config(_config(audit={"url": url}), env={}).spec.audit.url == url


@pytest.mark.parametrize("url", ["mysql://db/x", "sqlite://", "laneway.db", "file:///a.db"])
def test_audit_url_the_store_cannot_open_is_refused_at_load(url: str) -> None:
    error = _refusal(_config(audit={"url": url}))
    assert error.path == "audit.url"
    assert error.hint is not None
    assert "postgresql://" in error.hint
    with pytest.raises(ConfigError):
        parse_store_url(url)  # the audit store refuses it too


def test_relative_sqlite_url_is_checked_without_touching_the_disk(tmp_path: Path) -> None:
    file = tmp_path / "laneway.yaml"
    file.write_text(
        "providers: {local: {kind: local}}\n"
        "lanes: {default: {primary: local/echo}}\n"
        "audit: {url: 'sqlite:///missing-dir/a.db'}\n"
    )
    load_config(file, env={})
    assert not (tmp_path / "missing-dir").exists()


def test_openai_compatible_without_base_url_or_preset_names_the_provider_and_fix() -> None:
    data = _config(providers={"box": {"kind": "openai_compatible"}})
    data["lanes"] = {"default": {"primary": "box/qwen"}}
    error = _refusal(data)
    assert error.path == "providers.box"
    assert error.hint is not None
    assert "providers.box.base_url" in error.hint
    assert "preset" in error.hint


@pytest.mark.parametrize(
    "provider",
    [
        {"kind": "openai_compatible", "base_url": "http://gpu:8000/v1"},
        {"kind": "openai_compatible", "preset": "vllm"},
        {"kind": "openai"},  # the kind has its own default address
    ],
)
def test_a_provider_with_an_address_loads(provider: dict[str, Any]) -> None:
    load_config(_config(providers={"box": provider}), env={})


def test_base_url_from_an_unset_variable_is_no_address() -> None:
    provider = {"kind": "openai_compatible", "base_url": "${VLLM_URL}"}
    with pytest.raises(ConfigError, match="no server address"):
        load_config(_config(providers={"box": provider}), env={})
    loaded = load_config(_config(providers={"box": provider}), env={"VLLM_URL": "http://x/v1"})
    assert loaded.providers["box"].base_url == "http://x/v1"


def test_api_key_and_api_key_command_together_are_ambiguous() -> None:
    provider = {"kind": "anthropic", "api_key": "${K}", "api_key_command": "vault read x"}
    error = _refusal(_config(providers={"anthropic": provider}))
    assert error.path == "providers.anthropic.api_key_command"
    assert error.hint is not None
    assert error.hint.startswith("keep one")
    assert "vault" not in str(error)  # the command is not repeated back


def test_a_credential_profile_with_both_is_ambiguous_too() -> None:
    profiles = [{"api_key_env": "A"}, {"api_key": "x", "api_key_command": "get-token"}]
    error = _refusal(
        _config(providers={"anthropic": {"kind": "anthropic", "credentials": profiles}})
    )
    assert error.path == "providers.anthropic.credentials[1].api_key_command"
    assert "keep one" in str(error)


@pytest.mark.parametrize(
    "keys",
    [{"api_key": "${K}"}, {"api_key_command": "get-token"}, {"api_key_env": "K"}],
)
def test_one_key_source_loads(keys: dict[str, str]) -> None:
    load_config(_config(providers={"anthropic": {"kind": "anthropic", **keys}}), env={})


def test_an_unknown_local_model_still_loads_as_it_may_be_registered_at_run_time() -> None:
    data = _config(lanes={"default": {"primary": "local/my-registered-callable"}})
    assert str(load_config(data, env={}).lane("default").primary) == "local/my-registered-callable"
