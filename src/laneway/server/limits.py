"""Per-key and global request rates, and the state-store settings they share.

Request rates use the `limits` package with fixed windows (one counter per key
and window, so a hit is one increment; the moving window's memory backend does
a thread hand-off per hit, which the hot path cannot afford). The storage comes
from `state.url`: `memory://` keeps counters in this process, `redis://...`
shares them between replicas (`async+redis` with redis-py, keys under
`laneway:limits:`), with the state store's timeouts and health
(`state.guarded.StoreHealth`): while the store is down, windows are counted in
this process (`on_state_error.limits: open`) or the request is refused 503.

A key's concurrency slots and spend live in the state store (`key_limits.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from laneway.clock import Clock
from laneway.errors import ConfigError
from laneway.server.auth import Principal
from laneway.server.errors import ApiError, rate_limited, state_unavailable
from laneway.state import StateError

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.aio.strategies import FixedWindowRateLimiter

    from laneway.config.schema import StateSpec
    from laneway.state.guarded import StoreHealth

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

    def __init__(
        self,
        state_url: str,
        *,
        global_rpm: int | None,
        clock: Clock,
        spec: StateSpec | None = None,
        health: StoreHealth | None = None,
    ) -> None:
        self._state_url = state_url
        self._global_rpm = global_rpm
        self._clock = clock
        self._spec = spec
        self._health = health
        self._fail_open = spec is None or spec.on_state_error.limits == "open"
        self._limiter: FixedWindowRateLimiter | None = None
        self._local: FixedWindowRateLimiter | None = None  # while the shared store is down
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
            options: dict[str, str | bool | float] = {"wrap_exceptions": True}
            if url.startswith("async+redis"):
                options |= {"implementation": "redispy", "key_prefix": _KEY_PREFIX}
                if self._spec is not None:  # redis-py's defaults wait for ever to connect
                    options["socket_connect_timeout"] = self._spec.connect_timeout_s
                    options["socket_timeout"] = self._spec.command_timeout_s
            self._limiter = FixedWindowRateLimiter(storage_from_string(url, **options))
        return self._limiter

    def _get_local(self) -> FixedWindowRateLimiter:
        if self._local is None:
            from limits.aio.strategies import FixedWindowRateLimiter
            from limits.storage import storage_from_string

            self._local = FixedWindowRateLimiter(storage_from_string("async+memory://"))
        return self._local

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
        from limits.errors import StorageError

        health = self._health
        try:
            if health is not None:
                health.check()
            await self._hit(self._get_limiter(), checks, principal)
        except (StorageError, StateError) as exc:
            if health is not None and not health.down:
                health.failed(exc)
            if not self._fail_open:
                raise state_unavailable("rate limits") from exc
            if health is not None:
                health.log_fallback("limits", exc)
            await self._hit(self._get_local(), checks, principal)
            return
        if health is not None:
            health.recovered()

    async def _hit(
        self,
        limiter: FixedWindowRateLimiter,
        checks: list[tuple[RateLimitItem, str, str]],
        principal: Principal,
    ) -> None:
        for item, identity, setting in checks:
            if not await limiter.hit(item, identity):
                reset, _ = await limiter.get_window_stats(item, identity)
                raise _over(setting, item.amount, principal, reset - self._clock.wall())

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
        except (StorageError, OSError):
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
