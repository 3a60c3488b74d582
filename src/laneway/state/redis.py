"""The Redis state backend (`redis://`, `rediss://`, `unix://`), shared by many replicas.

Every read-check-write is one Lua script from `lua/` (loaded with
`importlib.resources`, run by SHA with a fallback to EVAL), never a
read-modify-write from Python, so replicas racing on one key stay correct.
Redis errors are translated to `StateError` here, at this edge. `redis` is
imported only when this module is, i.e. only when a Redis URL is configured.

Keys are `<prefix>breaker:<name>`, `<prefix>breakers` (the set of names),
`<prefix>budget:<scope>`, `<prefix>budget-res:<id>`, `<prefix>decision:<key>`,
`<prefix>quarantine:<provider[profile]>`, `<prefix>key-leases:<client key>` and
`<prefix>key-spend:<client key>:<period>`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError, RedisError

from laneway.state.base import (
    BreakerOp,
    BreakerOutcome,
    BreakerParams,
    BreakerStateName,
    Refusal,
    ScopeLimit,
    ScopeUsage,
    StateError,
)
from laneway.state.breaker_record import BreakerRecord
from laneway.state.quarantine_record import QuarantineOp, QuarantineRecord, QuarantineVerdict

DEFAULT_PREFIX = "laneway:"
#: a reservation never settled (its process died) stops blocking a retry after a day
RESERVATION_TTL_S = 86_400
_STATES: frozenset[str] = frozenset({"closed", "open", "half_open"})


def load_script(*names: str) -> str:
    """The script made of the files `names` in order (a step's file before its callers)."""
    folder = resources.files("laneway.state").joinpath("lua")
    return "\n".join(folder.joinpath(name).read_text(encoding="utf-8") for name in names)


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn a redis-py failure into `StateError`, without the URL (it may hold a password)."""
    try:
        yield
    except RedisError as exc:
        raise StateError(
            f"the Redis state store failed while {action}: {type(exc).__name__}; "
            "check that Redis is reachable at the `state.url` in laneway.yaml"
        ) from exc


def _num(text: float) -> str:
    return format(text, ".17g")


def _params(params: BreakerParams) -> list[str | int]:
    """A breaker's parameters as breaker_step.lua takes them, after `now`."""
    return [
        params.failure_threshold,
        _num(params.window_s),
        _num(params.open_s),
        _num(params.probe_timeout_s),
    ]


def _verdict(reply: Any) -> QuarantineVerdict:
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    if text not in ("clear", "probe", "quarantined"):
        raise StateError(f"the Redis quarantine script answered {text!r}")
    return cast(QuarantineVerdict, text)


class RedisBreakerStore:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._script: AsyncScript = client.register_script(
            load_script("breaker_step.lua", "breaker.lua")
        )
        self._gate: AsyncScript = client.register_script(
            load_script("quarantine_step.lua", "breaker_step.lua", "gate.lua")
        )

    async def apply(
        self, key: str, op: BreakerOp, now: float, params: BreakerParams
    ) -> BreakerOutcome:
        argv: list[str | int] = [op, _num(now), *_params(params), key]
        keys = [f"{self._prefix}breaker:{key}", f"{self._prefix}breakers"]
        with translated(f"updating the breaker of {key}"):
            reply = await self._script(keys=keys, args=argv)
        old, new, allowed, probe = reply
        return BreakerOutcome(_state(old), _state(new), bool(allowed), bool(probe))

    async def gate(
        self, key: str, credential: str, now: float, params: BreakerParams, cooldown_s: float
    ) -> tuple[QuarantineVerdict, BreakerOutcome | None]:
        argv: list[str | int] = [_num(now), _num(cooldown_s), *_params(params), key]
        keys = [
            f"{self._prefix}quarantine:{credential}",
            f"{self._prefix}breaker:{key}",
            f"{self._prefix}breakers",
        ]
        with translated(f"admitting a call to {key}"):
            reply = await self._gate(keys=keys, args=argv)
        verdict = _verdict(reply[0])
        if len(reply) == 1:
            return verdict, None
        _, old, new, allowed, probe = reply
        return verdict, BreakerOutcome(_state(old), _state(new), bool(allowed), bool(probe))

    async def states(self) -> dict[str, BreakerStateName]:
        with translated("reading breaker states"):
            names = sorted(await _await(self._client.smembers(f"{self._prefix}breakers")))
            if not names:
                return {}
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.hget(f"{self._prefix}breaker:{name}", "state")
            values = await pipe.execute()
        return {name: _state(value or "closed") for name, value in zip(names, values, strict=True)}

    async def clear(self, key: str) -> None:
        with translated(f"clearing the breaker of {key}"):
            await self._client.delete(f"{self._prefix}breaker:{key}")
            await _await(self._client.srem(f"{self._prefix}breakers", key))

    async def records(self) -> dict[str, BreakerRecord]:
        """Every tripped breaker's whole record (as breaker.lua stores it), for `laneway status`."""
        fields = ("state", "opened_at", "probe_at", "failures")
        with translated("reading breaker records"):
            names = sorted(await _await(self._client.smembers(f"{self._prefix}breakers")))
            pipe = self._client.pipeline(transaction=False)
            for name in names:
                pipe.hmget(f"{self._prefix}breaker:{name}", list(fields))
            rows = await pipe.execute() if names else []
        return {_text(name): _record(row) for name, row in zip(names, rows, strict=True)}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _record(row: list[object]) -> BreakerRecord:
    state, opened_at, probe_at, failures = (None if v is None else _text(v) for v in row)
    times = tuple(float(t) for t in (failures or "").split())
    return BreakerRecord(
        state=_state(state or "closed"),
        opened_at=float(opened_at or 0.0),
        probe_at=float(probe_at) if probe_at else None,
        failures=times,
    )


def _state(value: object) -> BreakerStateName:
    text = value.decode() if isinstance(value, bytes) else str(value)
    if text not in _STATES:
        raise StateError(f"the Redis breaker record holds an unknown state {text!r}")
    return cast(BreakerStateName, text)


async def _await(value: Awaitable[Any] | Any) -> Any:
    """redis-py types some commands as `Awaitable[T] | T`; the asyncio client always awaits."""
    return await value


class RedisBudgetStore:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._reserve: AsyncScript = client.register_script(load_script("budget_reserve.lua"))
        self._settle: AsyncScript = client.register_script(load_script("budget_settle.lua"))

    def _scope_key(self, scope: str) -> str:
        return f"{self._prefix}budget:{scope}"

    def _marker(self, reservation_id: str) -> str:
        return f"{self._prefix}budget-res:{reservation_id}"

    @property
    def _registry(self) -> str:
        return f"{self._prefix}budgets"

    async def reserve(
        self, reservation_id: str, limits: Sequence[ScopeLimit], nanos: int, tokens: int
    ) -> Refusal | None:
        keys = [self._marker(reservation_id), self._registry]
        keys += [self._scope_key(lim.scope) for lim in limits]
        argv: list[str | int] = [nanos, tokens, RESERVATION_TTL_S]
        for lim in limits:
            argv += [lim.scope, "" if lim.usd_nanos is None else lim.usd_nanos]
            argv += ["" if lim.tokens is None else lim.tokens]
        with translated("reserving budget"):
            reply = await self._reserve(keys=keys, args=argv)
        if not reply:
            return None
        index, unit, limit, *usage = reply
        unit_name = str(unit)
        return Refusal(
            limits[int(index) - 1].scope,
            "tokens" if unit_name == "tokens" else "usd",
            int(limit),
            ScopeUsage(*(int(v) for v in usage)),
        )

    async def commit(
        self,
        reservation_id: str,
        scopes: Sequence[str],
        reserved: tuple[int, int],
        actual: tuple[int, int],
    ) -> bool:
        keys = [self._marker(reservation_id), *(self._scope_key(s) for s in scopes)]
        argv = [-reserved[0], -reserved[1], actual[0], actual[1]]
        with translated("settling a budget reservation"):
            settled = await self._settle(keys=keys, args=argv)
        return bool(settled)

    async def refund(
        self, reservation_id: str, scopes: Sequence[str], reserved: tuple[int, int]
    ) -> bool:
        return await self.commit(reservation_id, scopes, reserved, (0, 0))

    async def usage(self, scope: str) -> ScopeUsage:
        with translated(f"reading the budget of {scope}"):
            values = await _await(self._client.hmget(self._scope_key(scope), list(_USAGE)))
        return ScopeUsage(*(int(v or 0) for v in values))

    async def snapshot(self) -> dict[str, ScopeUsage]:
        with translated("reading budget usage"):
            scopes = sorted(await _await(self._client.smembers(self._registry)))
            pipe = self._client.pipeline(transaction=False)
            for scope in scopes:
                pipe.hmget(self._scope_key(scope), list(_USAGE))
            rows = await pipe.execute() if scopes else []
        return {
            scope: ScopeUsage(*(int(v or 0) for v in row))
            for scope, row in zip(scopes, rows, strict=True)
        }

    async def forget(self, scope: str) -> None:
        with translated(f"dropping the budget of {scope}"):
            await self._client.delete(self._scope_key(scope))
            await _await(self._client.srem(self._registry, scope))


_USAGE = ("spent_nanos", "reserved_nanos", "spent_tokens", "reserved_tokens")


class RedisDecisionCache:
    """Plain GET and SET with PX: single commands are atomic already.

    Expiry is Redis's own clock, so `now` is not used here.
    """

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    async def get(self, key: str, now: float) -> str | None:
        with translated("reading the decision cache"):
            value = await self._client.get(f"{self._prefix}decision:{key}")
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def set(self, key: str, value: str, *, ttl_s: float, now: float) -> None:
        ttl_ms = max(1, round(ttl_s * 1000))
        with translated("writing the decision cache"):
            await self._client.set(f"{self._prefix}decision:{key}", value, px=ttl_ms)


class RedisQuarantineStore:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._script: AsyncScript = client.register_script(
            load_script("quarantine_step.lua", "quarantine.lua")
        )

    async def apply(
        self, key: str, op: QuarantineOp, now: float, cooldown_s: float
    ) -> QuarantineVerdict:
        with translated(f"updating the quarantine of {key}"):
            reply = await self._script(
                keys=[f"{self._prefix}quarantine:{key}"], args=[op, _num(now), _num(cooldown_s)]
            )
        return _verdict(reply)

    async def records(self) -> dict[str, QuarantineRecord]:
        """Every quarantined credential profile, for `laneway status` (a SCAN: not per request)."""
        start = f"{self._prefix}quarantine:"
        with translated("reading credential quarantines"):
            keys = sorted([_text(k) async for k in self._client.scan_iter(match=f"{start}*")])
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.hmget(key, ["since", "probe_at"])
            rows = await pipe.execute() if keys else []
        return {
            key.removeprefix(start): QuarantineRecord(
                since=float(_text(since)), probe_at=float(_text(probe)) if probe else None
            )
            for key, (since, probe) in zip(keys, rows, strict=True)
            if since is not None
        }


class RedisKeyLimitStore:
    """Client-key leases (a sorted set per key) and spend (a counter per key and period)."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._acquire: AsyncScript = client.register_script(load_script("key_lease_acquire.lua"))
        self._renew: AsyncScript = client.register_script(load_script("key_lease_renew.lua"))
        self._add: AsyncScript = client.register_script(load_script("key_spend_add.lua"))

    def _leases(self, key: str) -> str:
        return f"{self._prefix}key-leases:{key}"

    def _spend(self, key: str, period: str) -> str:
        return f"{self._prefix}key-spend:{key}:{period}"

    async def acquire(self, key: str, lease_id: str, limit: int, now: float, lease_s: float) -> int:
        with translated(f"taking a concurrency slot of key {key}"):
            reply = await self._acquire(
                keys=[self._leases(key)], args=[limit, _num(now), _num(lease_s), lease_id]
            )
        return int(reply)

    async def renew(self, key: str, lease_id: str, now: float, lease_s: float) -> bool:
        with translated(f"renewing a concurrency slot of key {key}"):
            reply = await self._renew(
                keys=[self._leases(key)], args=[_num(now), _num(lease_s), lease_id]
            )
        return bool(reply)

    async def release(self, key: str, lease_id: str) -> None:
        with translated(f"releasing a concurrency slot of key {key}"):
            await _await(self._client.zrem(self._leases(key), lease_id))

    async def add_spend(self, key: str, period: str, nanos: int, ttl_s: float | None) -> int:
        ttl = "" if ttl_s is None else _num(ttl_s)
        with translated(f"adding to the spend of key {key}"):
            reply = await self._add(keys=[self._spend(key, period)], args=[nanos, ttl])
        return int(reply)

    async def spent(self, key: str, period: str) -> int:
        with translated(f"reading the spend of key {key}"):
            value = await self._client.get(self._spend(key, period))
        return int(value or 0)


class RedisStateStore:
    """One connection pool shared by the stores; `aclose` closes it.

    Every command is bounded by `command_timeout_s` and every connection by
    `connect_timeout_s` (`state:` sets both, 250 ms by default; None, for a store
    opened directly, keeps redis-py's defaults, which may wait for ever), and
    a broken connection is retried once at once; a timeout is not retried, so a
    hung Redis costs a caller at most the timeout (`guarded.py` then skips it).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        connect_timeout_s: float | None = None,
        command_timeout_s: float | None = None,
    ) -> None:
        self._url = url
        try:
            # A blocking pool makes a burst of requests queue for a connection instead of
            # failing; `?max_connections=N` in the URL sizes it (redis-py default 50).
            # Waiting for a free connection is load, not a failure: it keeps redis-py's
            # bound (20 s), while each connection's commands are bounded by the timeout.
            pool = aioredis.BlockingConnectionPool.from_url(
                url,
                decode_responses=True,
                socket_connect_timeout=connect_timeout_s,
                socket_timeout=command_timeout_s,
                # a broken connection once more, at once; never a timeout (its time is spent)
                retry=Retry(NoBackoff(), 1, supported_errors=(ConnectionError,)),
            )
            self._client = aioredis.Redis.from_pool(pool)
        except ValueError as exc:
            raise StateError(f"the Redis state URL is not valid: {exc}") from exc
        self._breakers = RedisBreakerStore(self._client, prefix)
        self._budgets = RedisBudgetStore(self._client, prefix)
        self._decisions = RedisDecisionCache(self._client, prefix)
        self._key_limits = RedisKeyLimitStore(self._client, prefix)
        self._quarantines = RedisQuarantineStore(self._client, prefix)

    @property
    def url(self) -> str:
        return self._url

    @property
    def breakers(self) -> RedisBreakerStore:
        return self._breakers

    @property
    def budgets(self) -> RedisBudgetStore:
        return self._budgets

    @property
    def decisions(self) -> RedisDecisionCache:
        return self._decisions

    @property
    def key_limits(self) -> RedisKeyLimitStore:
        return self._key_limits

    @property
    def quarantines(self) -> RedisQuarantineStore:
        return self._quarantines

    async def ping(self) -> None:
        """Fail early and clearly when Redis is not there (`open_state` does not connect)."""
        with translated("connecting"):
            await _await(self._client.ping())

    async def aclose(self) -> None:
        with translated("closing"):
            await self._client.aclose()


__all__ = ["RedisStateStore", "load_script", "translated"]
