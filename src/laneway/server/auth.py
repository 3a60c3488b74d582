"""Client keys: who may call, on which lanes, with which limits.

Keys come from `server.keys` (and `server.admin_key`), plain or `sha256:<hex>`.
At start-up every plain key is hashed and dropped: only SHA-256 digests stay in
memory, so no plain key can reach a log line, a response or a config file
laneway writes. A presented key is hashed and its digest looked up: a caller
cannot choose the digest's bytes, so the lookup's timing reveals nothing about
the stored keys (the reason `hmac.compare_digest` exists for plain secrets).

A key limited to some lanes may pin (`model: provider/model`) only the models
those lanes can reach (primaries, fallbacks, the targets of rules that can fire
on them), plus what its `models:` list allows: a lane it may use is not a door
to every model of the config.

With no key configured at all, the server runs open (one anonymous principal,
every lane, admin included); `laneway serve` then binds to 127.0.0.1 unless
told `--insecure-no-auth`, and `request_guard` keeps browsers out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from laneway.config.model import Config
from laneway.config.schema import ClientKeySpec, ServerSpec
from laneway.errors import ConfigError
from laneway.server.errors import ApiError

_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. `lanes` None means every lane."""

    name: str
    lanes: frozenset[str] | None
    rpm: int | None = None
    rph: int | None = None
    concurrent: int | None = None
    budget_usd: float | None = None
    admin: bool = False
    #: `provider/model` ids its lanes reach (unused when `lanes` is None)
    models: frozenset[str] = frozenset()
    #: the key's own `models:` globs, pinnable beyond its lanes' models
    model_globs: tuple[str, ...] = ()
    per: str = "total"  # the period of `budget_usd`: day, month or total

    def may_use(self, lane: str) -> bool:
        return self.lanes is None or lane in self.lanes

    def may_pin(self, model: str) -> bool:
        """Whether this key may name `model` (`provider/model`) outside a lane's routing."""
        if self.lanes is None or model in self.models:
            return True
        return any(fnmatchcase(model, glob) for glob in self.model_globs)


ANONYMOUS = Principal(name="anonymous", lanes=None, admin=True)


def digest_of(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _stored_digest(secret: str, where: str) -> bytes:
    """`sha256:<hex>` as given, or the digest of a plain key (which is then forgotten)."""
    if secret.startswith("sha256:"):
        hex_digest = secret.removeprefix("sha256:").strip().lower()
        if not _HEX_DIGEST.match(hex_digest):
            raise ConfigError(
                "a hashed key must be sha256: followed by 64 hex digits",
                path=where,
                hint='print one with: python -c "import hashlib,sys; '
                "print('sha256:'+hashlib.sha256(sys.argv[1].encode()).hexdigest())\" KEY",
            )
        return bytes.fromhex(hex_digest)
    if not secret:
        raise ConfigError("a client key is empty", path=where, hint="set the key's value")
    return digest_of(secret)


def lane_models(config: Config) -> dict[str, frozenset[str]]:
    """Each lane's reachable models: primary, fallbacks, and targets of rules that can fire on it.

    A rule without a `lane` condition can fire on any lane, so its models count for all.
    """
    reach = {name: {str(ref) for ref in lane.candidates} for name, lane in config.lanes.items()}
    for rule in config.rules:
        targets = {str(rule.model), *(str(ref) for ref in rule.fallback or ())}
        condition = rule.when.get("lane")
        if condition is None:
            names: list[str] = list(reach)
        else:
            names = [str(v) for v in condition] if isinstance(condition, list) else [str(condition)]
        for name in names:
            if name in reach:
                reach[name] |= targets
    return {name: frozenset(models) for name, models in reach.items()}


def _principal(
    spec: ClientKeySpec, digest: bytes, lane_reach: Mapping[str, frozenset[str]]
) -> Principal:
    lanes = None if "*" in spec.lanes else frozenset(spec.lanes)
    models = frozenset().union(*(lane_reach.get(lane, frozenset()) for lane in lanes or ()))
    return Principal(
        name=spec.name or f"key-{digest.hex()[:8]}",
        lanes=lanes,
        rpm=spec.rpm,
        rph=spec.rph,
        concurrent=spec.concurrent,
        budget_usd=spec.budget_usd,
        admin=spec.admin,
        models=models,
        model_globs=tuple(spec.models),
        per=spec.per,
    )


class KeyRing:
    """Digests of the configured keys and the principal each one stands for."""

    def __init__(self, entries: list[tuple[bytes, Principal]]) -> None:
        self._entries = tuple(entries)
        self._by_digest = {digest: principal for digest, principal in reversed(self._entries)}
        #: no key configured: every caller is the anonymous principal
        self.open = not self._entries

    @classmethod
    def from_spec(
        cls, server: ServerSpec, lane_reach: Mapping[str, frozenset[str]] | None = None
    ) -> KeyRing:
        """`lane_reach` (see `lane_models`) says which models each lane's keys may pin."""
        entries = []
        for i, spec in enumerate(server.keys):
            digest = _stored_digest(spec.key.get_secret_value(), f"server.keys[{i}].key")
            entries.append((digest, _principal(spec, digest, lane_reach or {})))
        if server.admin_key is not None:
            digest = _stored_digest(server.admin_key.get_secret_value(), "server.admin_key")
            entries.append((digest, Principal(name="admin", lanes=None, admin=True)))
        return cls(entries)

    @property
    def principals(self) -> tuple[Principal, ...]:
        return tuple(principal for _, principal in self._entries)

    def authenticate(self, authorization: bytes | None) -> Principal:
        """The principal for an `Authorization: Bearer <key>` header, or a 401."""
        if self.open:
            return ANONYMOUS
        key = _bearer(authorization)
        if key is None:
            raise _unauthorized(
                "missing client key: send `Authorization: Bearer <key>` "
                "(the OpenAI SDKs send their api_key this way)"
            )
        # A dict lookup by digest: a caller cannot steer a sha256 digest's bytes, so the
        # lookup's timing says nothing about the stored keys.
        found = self._by_digest.get(hashlib.sha256(key).digest())
        if found is None:
            raise _unauthorized("unknown client key: check the key, or ask for one in server.keys")
        return found


def bearer_key(header: bytes | None) -> bytes | None:
    """The key of an `Authorization: Bearer <key>` header, if it has one."""
    return _bearer(header)


def _bearer(header: bytes | None) -> bytes | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(b" ")
    value = value.strip()
    if scheme.lower() != b"bearer" or not value:
        return None
    return value


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        401,
        message,
        type="authentication_error",
        code="invalid_api_key",
        headers={"www-authenticate": "Bearer"},
    )


def forbidden_lane(principal: Principal, lane: str) -> ApiError:
    return ApiError(
        403,
        f"this client key ({principal.name}) may not use lane {lane!r}; "
        "ask for it to be added to the key's `lanes` in server.keys",
        type="permission_error",
        code="lane_not_allowed",
        param="model",
    )


def forbidden_model(principal: Principal, model: str) -> ApiError:
    lanes = ", ".join(sorted(principal.lanes or ())) or "none"
    return ApiError(
        403,
        f"this client key ({principal.name}) may not pin model {model[:100]!r}: it may name "
        f"the models its lanes ({lanes}) route to, or its lanes by name; to allow more, add "
        "the model (globs allowed) to the key's `models` in server.keys",
        type="permission_error",
        code="model_not_allowed",
        param="model",
    )


def admin_required() -> ApiError:
    return ApiError(
        403,
        "this endpoint needs an admin key (server.admin_key, or a key with admin: true)",
        type="permission_error",
        code="admin_required",
    )
