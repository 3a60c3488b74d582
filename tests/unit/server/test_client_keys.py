"""Client keys: hashed at start-up, compared by digest, mapped to lanes and limits."""

from __future__ import annotations

import hashlib

import pytest

from laneway.config.schema import ServerSpec
from laneway.errors import ConfigError
from laneway.server.auth import ANONYMOUS, KeyRing
from laneway.server.errors import ApiError


def ring(**server: object) -> KeyRing:
    return KeyRing.from_spec(ServerSpec.model_validate(server))


def test_no_keys_means_open_and_anonymous() -> None:
    keys = ring()
    assert keys.open
    assert keys.authenticate(None) is ANONYMOUS


def test_plain_and_hashed_keys_both_authenticate() -> None:
    hashed = "sha256:" + hashlib.sha256(b"second").hexdigest()
    keys = ring(keys=[{"key": "first", "name": "a", "lanes": ["coding"]}, {"key": hashed}])
    assert keys.authenticate(b"Bearer first").name == "a"
    second = keys.authenticate(b"bearer  second")
    assert second.name == "key-" + hashlib.sha256(b"second").hexdigest()[:8]
    assert second.may_use("anything")
    assert not keys.authenticate(b"Bearer first").may_use("chat")


def test_plain_keys_are_not_kept_in_memory() -> None:
    keys = ring(keys=[{"key": "very-secret-key-value"}])
    assert "very-secret-key-value" not in repr(keys.__dict__)
    assert all("very-secret" not in repr(p) for p in keys.principals)


@pytest.mark.parametrize(
    "header", [b"Bearer k", b"bearer k", b"BEARER  k", b"Bearer k  ", b"  Bearer \tk"]
)
def test_every_spelling_of_a_bearer_key_names_the_same_key(header: bytes) -> None:
    assert ring(keys=[{"key": "k", "name": "one"}]).authenticate(header).name == "one"


@pytest.mark.parametrize(
    "header",
    [None, b"", b"Bearer", b"Bearer ", b"Bearer   ", b"Bearer\tk", b"Basic Zm9v", b"Bearer wrong"],
)
def test_missing_or_unknown_key_is_401(header: bytes | None) -> None:
    with pytest.raises(ApiError) as info:
        ring(keys=[{"key": "k"}]).authenticate(header)
    assert info.value.status == 401
    assert info.value.code == "invalid_api_key"


def test_admin_key_is_admin_and_client_keys_are_not_by_default() -> None:
    keys = ring(keys=[{"key": "c"}, {"key": "d", "admin": True}], admin_key="root")
    assert keys.authenticate(b"Bearer root").admin
    assert keys.authenticate(b"Bearer d").admin
    assert not keys.authenticate(b"Bearer c").admin


def test_a_malformed_hashed_key_fails_at_load_naming_it() -> None:
    with pytest.raises(ConfigError) as info:
        ring(keys=[{"key": "sha256:nothex"}])
    assert info.value.path == "server.keys[0].key"
