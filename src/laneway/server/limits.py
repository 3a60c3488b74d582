"""Per-key and global request limits, concurrency slots and per-key spend.

Request rates use the `limits` package with fixed windows (one counter per key
and window, so a hit is one increment; the moving window's memory backend does
a thread hand-off per hit, which the hot path cannot afford). The storage comes
from `state.url`: `memory://` keeps counters in this process, `redis://...`
shares them between replicas (`async+redis` with redis-py, keys under
`laneway:limits:`).

Concurrency slots and per-key spend are counted in this process: with several
workers or replicas each one enforces them on its own share of the traffic.
The engine enforces a key's budget through `TaskContext.budget_remaining_usd`;
this module only remembers what each key has spent so far.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING

from laneway.clock import Clock
from laneway.errors import ConfigError
from laneway.server.auth import Principal
from laneway.server.errors import ApiError, rate_limited, state_unavailable

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.aio.strategies import FixedWindowRateLimiter

_KEY_PREFIX = "laneway:limits"


def storage_url(state_url: str) -> str:
    """The `limits` storage URL for laneway's `state.url`."""
    scheme = state_url.partition("://")[0].lower()
    if scheme == "memory":
        return "async+memory://"
    if scheme in ("redis", "rediss", "redis+unix"):
        return f"async+{state_url}"
    raise ConfigError(
        f"state.url scheme {scheme!r} cannot hold rate-limit windows",
        path="state.url",
        hint="use memory:// or redis://host:6379/0",
    )


class RateLimits:
    """Requests per minute / hour per key, and a global requests-per-minute cap."""

    def __init__(self, state_url: str, *, global_rpm: int | None, clock: Clock) -> None:
        self._state_url = state_url
        self._global_rpm = global_rpm
        self._clock = clock
        self._limiter: FixedWindowRateLimiter | None = None
        self._items: dict[tuple[str, int], RateLimitItem] = {}

    def apply_to(self, principal: Principal) -> bool:
        """Whether `hit` has anything to count for this caller (most keys have no limit)."""
        return (
            principal.rpm is not None or principal.rph is not None or self._global_rpm is not None
        )

    def _get_limiter(self) -> FixedWindowRateLimiter:
        if self._limiter is None:
            from limits.aio.strategies import FixedWindowRateLimiter
            from limits.storage import storage_from_string

            url = storage_url(self._state_url)
            options: dict[str, str | bool] = {"wrap_exceptions": True}
            if url.startswith("async+redis"):
                options |= {"implementation": "redispy", "key_prefix": _KEY_PREFIX}
            self._limiter = FixedWindowRateLimiter(storage_from_string(url, **options))
        return self._limiter

    def _item(self, per: str, amount: int) -> RateLimitItem:
        item = self._items.get((per, amount))
        if item is None:
            from limits import RateLimitItemPerHour, RateLimitItemPerMinute

            kind = RateLimitItemPerMinute if per == "minute" else RateLimitItemPerHour
            item = self._items[(per, amount)] = kind(amount, namespace="laneway")
        return item

    async def hit(self, principal: Principal) -> None:
        """Count one request, or raise a 429 with Retry-After naming the limit passed."""
        checks = []
        if principal.rpm is not None:
            checks.append((self._item("minute", principal.rpm), principal.name, "rpm"))
        if principal.rph is not None:
            checks.append((self._item("hour", principal.rph), principal.name, "rph"))
        if self._global_rpm is not None:
            checks.append((self._item("minute", self._global_rpm), "*global*", "global_rpm"))
        if not checks:
            return
        limiter = self._get_limiter()
        from limits.errors import StorageError

        try:
            for item, identity, setting in checks:
                if not await limiter.hit(item, identity):
                    reset, _ = await limiter.get_window_stats(item, identity)
                    raise _over(setting, item.amount, principal, reset - self._clock.wall())
        except StorageError as exc:
            raise state_unavailable() from exc

    async def windows(self, principals: tuple[Principal, ...]) -> list[dict[str, object]]:
        """Each limited key's current windows: limit, remaining, when it resets (wall seconds)."""
        checks: list[tuple[str, str, int]] = []
        for principal in principals:
            if principal.rpm is not None:
                checks.append((principal.name, "minute", principal.rpm))
            if principal.rph is not None:
                checks.append((principal.name, "hour", principal.rph))
        if self._global_rpm is not None:
            checks.append(("*global*", "minute", self._global_rpm))
        if not checks:
            return []
        from limits.errors import StorageError

        limiter = self._get_limiter()
        found: list[dict[str, object]] = []
        try:
            for identity, per, amount in checks:
                reset, remaining = await limiter.get_window_stats(self._item(per, amount), identity)
                found.append(
                    {
                        "key": identity,
                        "limit": f"{amount}/{per}",
                        "remaining": remaining,
                        "resets_at": reset,
                    }
                )
        except StorageError as exc:
            raise state_unavailable() from exc
        return found

    async def check(self) -> bool:
        """Whether the window store answers (always, for memory)."""
        if self._state_url.startswith("memory"):
            return True
        from limits.errors import StorageError

        try:
            return bool(await self._get_limiter().storage.check())
        except StorageError:
            return False

    async def aclose(self) -> None:
        self._limiter = None


def _over(setting: str, amount: int, principal: Principal, retry_after_s: float) -> ApiError:
    if setting == "global_rpm":
        where = f"the server's global limit of {amount} requests per minute"
    else:
        per = "minute" if setting == "rpm" else "hour"
        where = f"this key's ({principal.name}) limit of {amount} requests per {per}"
    return rate_limited(
        f"rate limit reached: {where}; retry after the Retry-After header's seconds",
        code="rate_limit_exceeded",
        retry_after_s=retry_after_s,
    )


_NO_SLOT: AbstractContextManager[None] = nullcontext()


class ConcurrencySlots:
    """At most `principal.concurrent` requests in flight per key, in this process."""

    def __init__(self) -> None:
        self._in_flight: dict[str, int] = {}

    def hold(self, principal: Principal) -> AbstractContextManager[None]:
        """A slot for one request; a key without a limit gets a shared no-op, which costs
        far less per request than entering a generator-based context manager."""
        limit = principal.concurrent
        if limit is None:
            return _NO_SLOT
        return self._slot(principal, limit)

    @contextmanager
    def _slot(self, principal: Principal, limit: int) -> Iterator[None]:
        name = principal.name
        current = self._in_flight.get(name, 0)
        if current >= limit:
            raise rate_limited(
                f"this key ({principal.name}) already has {current} requests in flight, "
                f"its limit (server.keys[].concurrent is {limit}); wait for one to finish",
                code="concurrency_limit_exceeded",
                retry_after_s=1.0,
            )
        self._in_flight[name] = current + 1
        try:
            yield
        finally:
            self._in_flight[name] -= 1

    def in_flight(self, principal: Principal) -> int:
        return self._in_flight.get(principal.name, 0)


class KeySpend:
    """USD spent per key since start-up, for keys with a `budget_usd`."""

    def __init__(self) -> None:
        self._spent: dict[str, float] = {}

    def remaining_usd(self, principal: Principal) -> float | None:
        """What the key may still spend, or None when it has no budget."""
        if principal.budget_usd is None:
            return None
        remaining = principal.budget_usd - self._spent.get(principal.name, 0.0)
        if remaining <= 0:
            raise ApiError(
                429,
                f"this key's ({principal.name}) budget of {principal.budget_usd:g} USD is spent; "
                "raise server.keys[].budget_usd or restart the budget period",
                type="insufficient_quota",
                code="budget_exceeded",
                headers={"x-should-retry": "false"},
            )
        return remaining

    def record(self, principal: Principal, cost_usd: float | None) -> None:
        if principal.budget_usd is not None and cost_usd:
            self._spent[principal.name] = self._spent.get(principal.name, 0.0) + cost_usd

    def report(self) -> dict[str, dict[str, float]]:
        return {name: {"spent_usd": spent} for name, spent in self._spent.items()}
