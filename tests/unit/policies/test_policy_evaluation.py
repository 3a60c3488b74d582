"""The pure half of `policies:`: compiled conditions and checks, judged without a loop."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from laneway.config.schema import PolicySpec
from laneway.policies import (
    BudgetFacts,
    Deny,
    Replace,
    allow,
    as_verdict,
    compile_policies,
    deny,
    first_denial,
    needs_budget,
    replace,
)
from laneway.policies.globs import ModelGlobs
from laneway.types import Capability, Complexity, ModelInfo, ModelRef, Price, TaskContext

OPUS = ModelInfo(
    ModelRef("anthropic", "claude-opus-4-5"),
    frozenset({Capability.TOOLS, Capability.VISION}),
    price=Price(5.0, 25.0),
)
LOCAL = ModelInfo(ModelRef("local", "echo"), frozenset({Capability.STREAMING}))
CHEAP = ModelInfo(ModelRef("zai", "glm-4.7"), frozenset({Capability.TOOLS}), price=Price(0.6, 2.2))


def policies(*specs: dict[str, Any]) -> Any:
    return compile_policies([PolicySpec.model_validate(s) for s in specs])


def verdict(specs: list[dict[str, Any]], ctx: TaskContext, info: ModelInfo) -> str | None:
    compiled = policies(*specs)
    denial = first_denial(compiled.applicable(ctx), info, None)
    return None if denial is None else f"{denial[0].name}: {denial[1]}"


def test_allow_providers_denies_every_other_provider() -> None:
    spec = [{"name": "p", "allow_providers": ["local", "ollama"]}]
    ctx = TaskContext(lane="coding")
    assert verdict(spec, ctx, LOCAL) is None
    assert verdict(spec, ctx, OPUS) == (
        "p: provider 'anthropic' is not allowed (allowed: local, ollama)"
    )


def test_model_globs_match_exact_names_and_patterns() -> None:
    globs = ModelGlobs(["anthropic/claude-opus-*", "zai/glm-4.7", "*/llama?"])
    assert globs.matches(OPUS.ref)
    assert globs.matches(CHEAP.ref)
    assert globs.matches(ModelRef("ollama", "llama3"))
    assert not globs.matches(ModelRef("ollama", "llama31"))
    assert not globs.matches(ModelRef("anthropic", "claude-sonnet-4-5"))
    # the memo gives the same answers the second time
    assert globs.matches(OPUS.ref)
    assert not globs.matches(ModelRef("anthropic", "claude-sonnet-4-5"))


def test_deny_models_and_lane_not() -> None:
    spec = [
        {
            "name": "opus-for-planning-only",
            "when": {"lane_not": ["planning"]},
            "deny_models": ["anthropic/claude-opus-*"],
        }
    ]
    assert verdict(spec, TaskContext(lane="planning"), OPUS) is None
    assert "matches a denied model" in (verdict(spec, TaskContext(lane="coding"), OPUS) or "")
    assert verdict(spec, TaskContext(lane="coding"), CHEAP) is None


@pytest.mark.parametrize(
    ("cap", "unpriced", "info", "expected"),
    [
        ({"output": 15}, "allow", OPUS, "output price $25/Mtok is over the $15 cap"),
        ({"input": 1}, "allow", OPUS, "input price $5/Mtok is over the $1 cap"),
        ({"output": 25}, "allow", OPUS, None),
        ({"output": 15}, "allow", LOCAL, None),
        ({"output": 15}, "deny", LOCAL, "local/echo has no known price (unpriced: deny)"),
    ],
)
def test_price_caps(
    cap: dict[str, float], unpriced: str, info: ModelInfo, expected: str | None
) -> None:
    spec = [{"name": "cap", "max_price_usd_per_mtok": cap, "unpriced": unpriced}]
    got = verdict(spec, TaskContext(lane="review"), info)
    assert got == (None if expected is None else f"cap: {expected}")


def test_required_capabilities() -> None:
    spec = [{"name": "vision", "requires": ["vision", "tools"]}]
    assert verdict(spec, TaskContext(lane="x"), OPUS) is None
    assert verdict(spec, TaskContext(lane="x"), CHEAP) == "vision: zai/glm-4.7 lacks vision"


def test_budget_block_denies_only_estimates_over_the_limit() -> None:
    compiled = policies({"name": "strict", "on_budget_miss": "block"})
    applicable = compiled.applicable(TaskContext(lane="x"))
    assert needs_budget(applicable)
    budget = BudgetFacts(limit_usd=0.01, tokens_in=1000, max_tokens=1000)
    # opus: (1000 * 5 + 1000 * 25) / 1e6 = $0.03 > $0.01; glm: $0.0028 fits
    denial = first_denial(applicable, OPUS, budget)
    assert denial is not None
    assert denial[1] == "est. $0.0300 is over the $0.0100 budget (on_budget_miss: block)"
    assert first_denial(applicable, CHEAP, budget) is None
    assert first_denial(applicable, LOCAL, budget) is None  # unknown price: not judged
    assert first_denial(applicable, OPUS, None) is None  # no limit: nothing to miss


def test_conditions_all_must_hold_and_lists_mean_any() -> None:
    compiled = policies(
        {
            "name": "p",
            "when": {
                "lane": ["review", "coding"],
                "phase": "plan",
                "complexity": ["high"],
                "tags": ["private", "pci"],
                "key": "batch",
                "job": "nightly-*",
                "metadata": {"team": "core"},
            },
            "deny_providers": ["anthropic"],
        }
    )
    full = TaskContext(
        lane="coding",
        phase="plan",
        complexity=Complexity.HIGH,
        tags=frozenset({"pci"}),
        client_key="batch",
        job_id="nightly-12",
        metadata={"team": "core"},
    )
    assert len(compiled.applicable(full)) == 1
    fields = {name: getattr(full, name) for name in full.__slots__}
    changes: list[tuple[dict[str, Any], str]] = [
        ({"lane": "planning"}, "lane 'planning' not in [coding, review]"),
        ({"phase": None}, "phase None not in [plan]"),
        ({"complexity": Complexity.LOW}, "complexity 'low' not in [high]"),
        ({"tags": frozenset({"fast"})}, "no tag of [pci, private]"),
        ({"client_key": "web"}, "client key not in [batch]"),
        ({"job_id": "adhoc-1"}, "job 'adhoc-1' matches none of [nightly-*]"),
        ({"metadata": {"team": "web"}}, "metadata team='web', not 'core'"),
    ]
    for change, why in changes:
        ctx = TaskContext(**{**fields, **change})
        assert compiled.applicable(ctx) == ()
        assert compiled.policies[0].when.why_not(ctx) == why
    assert compiled.policies[0].when.why_not(full) is None


def test_nothing_applicable_is_the_shared_empty_tuple() -> None:
    compiled = policies({"name": "a", "when": {"lane": "coding"}, "deny_providers": ["zai"]})
    assert compiled.applicable(TaskContext(lane="review")) is compiled.applicable(
        TaskContext(lane="other")
    )


def test_judging_candidates_that_pass_allocates_nothing() -> None:
    """Compiled once: judging an allowed, already-seen candidate builds no object."""
    compiled = policies(
        {"name": "a", "allow_providers": ["anthropic", "zai"]},
        {"name": "b", "deny_models": ["anthropic/claude-haiku-*", "zai/glm-3*"]},
        {"name": "c", "allow_models": ["*/claude-*", "zai/*"]},
        {"name": "d", "max_price_usd_per_mtok": {"input": 20, "output": 80}},
        {"name": "e", "requires": ["tools"]},
        {"name": "f", "when": {"tags": ["private"]}, "allow_providers": ["local"]},
    )
    ctx = TaskContext(lane="coding")
    applicable = compiled.applicable(ctx)
    candidates = (OPUS, CHEAP)
    for info in candidates:  # warm the glob memos
        assert first_denial(applicable, info, None) is None
    before = sys.getallocatedblocks()
    for _ in range(1000):
        compiled.applicable(ctx)
        for info in candidates:
            first_denial(applicable, info, None)
    assert sys.getallocatedblocks() - before < 5


def test_hook_answers_become_verdicts() -> None:
    assert as_verdict(allow()) == allow()
    assert as_verdict(None) == allow()
    assert as_verdict(True) == allow()
    assert as_verdict(False) == Deny("the hook returned False")
    assert as_verdict(deny("no")) == Deny("no")
    assert as_verdict(replace("zai/glm-4.7", "cheaper")) == Replace(CHEAP.ref, "cheaper")
    odd = as_verdict({"allow": True})
    assert isinstance(odd, Deny)
    assert "returned a dict" in odd.reason
