"""The in-process decision cache: expiry by the caller's `now`, and a bounded size."""

from __future__ import annotations

from laneway.state.memory import MemoryDecisionCache


async def test_entries_expire_at_their_ttl() -> None:
    cache = MemoryDecisionCache()
    await cache.set("k", "v", ttl_s=10.0, now=100.0)
    assert await cache.get("k", 109.9) == "v"
    assert await cache.get("k", 110.0) is None


async def test_the_oldest_entry_goes_when_full() -> None:
    cache = MemoryDecisionCache(max_entries=2)
    for key in ("a", "b", "c"):
        await cache.set(key, key.upper(), ttl_s=60.0, now=0.0)
    assert await cache.get("a", 1.0) is None
    assert [await cache.get(k, 1.0) for k in ("b", "c")] == ["B", "C"]
