"""Property: whatever fails and however requests interleave, no attempt calls a model
whose breaker was open when the attempt began.

Hypothesis draws a failure script per model (codes and delays on the fake clock)
and a number of concurrent requests. Every breaker change is logged with how many
calls its model had received at that moment, so each call can be replayed against
the state its attempt saw (no await separates the breaker's admission from the call).
"""

from __future__ import annotations

import asyncio
from collections import Counter

from engine_scenario import ask, config, fake, gateway
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laneway.events import BreakerChanged, Event
from laneway.types import TaskContext

MODELS = ("a", "b", "c")
OUTCOMES = st.sampled_from(
    [None, "unavailable", "timeout", "rate_limit", "invalid_response", "bad_request", "network"]
)
STEP = st.tuples(OUTCOMES, st.sampled_from([0.0, 0.5, 5.0, 40.0]))
SCRIPTS = st.fixed_dictionaries({m: st.lists(STEP, max_size=25) for m in MODELS})


async def scenario(scripts: dict[str, list[tuple[str | None, float]]], clients: int) -> None:
    cfg = config(
        {"work": {"primary": "f/a", "fallback": ["f/b", "f/c"]}},
        breaker={"failure_threshold": 2, "window_s": 60, "open_s": 30},
    )
    gw = gateway(cfg)
    adapter = fake(gw)
    for model, steps in scripts.items():
        for code, delay_s in steps:
            adapter.enqueue(model, text="ok", error_code=code, delay_s=delay_s)
    log: list[tuple[str, int, str]] = []  # (model, calls to it so far, new state)

    def on_event(event: Event) -> None:
        if isinstance(event, BreakerChanged):
            model = event.model.model
            made = sum(1 for called, _ in adapter.calls if called == model)
            log.append((model, made, event.new))

    gw.subscribe(on_event)
    ctx = TaskContext(lane="work")
    await asyncio.gather(*(gw.run(ask(), ctx) for _ in range(clients)))
    await gw.aclose()

    seen: Counter[str] = Counter()
    for model, _ in adapter.calls:
        number = seen[model]
        seen[model] += 1
        state = "closed"
        for changed, made, new in log:
            if changed == model and made <= number:
                state = new
        assert state != "open", f"call {number} to {model} while its breaker was open: {log}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts=SCRIPTS, clients=st.integers(1, 12))
def test_no_attempt_calls_a_model_whose_breaker_is_open(
    scripts: dict[str, list[tuple[str | None, float]]], clients: int
) -> None:
    asyncio.run(scenario(scripts, clients))
