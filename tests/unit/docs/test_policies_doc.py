"""docs/policies.md stays true: its config loads, and the denial it shows is the real one."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from laneway.clock import FakeClock
from laneway.config import load_config
from laneway.engine.gateway import Gateway
from laneway.errors import PolicyDeniedError
from laneway.types import CompletionRequest, TaskContext

DOC = Path(__file__).resolve().parents[3] / "docs" / "policies.md"
ENV = {"ANTHROPIC_API_KEY": "sk-ant-doc-test", "ZAI_API_KEY": "zai-doc-test"}
_BLOCK = re.compile(r"^```(yaml|python|)[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def blocks(kind: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(DOC.read_text("utf-8")) if lang == kind]


def example() -> dict[str, Any]:
    (block,) = [b for b in blocks("yaml") if b.startswith("# laneway.yaml\n")]
    data: dict[str, Any] = yaml.safe_load(block)
    return data


def test_the_example_loads_with_the_warning_it_mentions() -> None:
    config = load_config(example(), env=ENV)
    assert [p.name for p in config.spec.policies] == [
        "private-stays-local",
        "opus-for-planning-only",
        "review-price-cap",
        "strict-budgets",
    ]
    (warning,) = config.warnings
    assert "provider 'ollama' is not configured" in warning


def test_the_pasted_denial_is_current() -> None:
    data = example()
    data["audit"] = {"enabled": False}

    async def denied() -> PolicyDeniedError:
        async with Gateway.from_config(data, env=ENV, clock=FakeClock()) as gw:
            ctx = TaskContext(lane="review", budget_remaining_usd=0.001)
            with pytest.raises(PolicyDeniedError) as info:
                await gw.complete(CompletionRequest.from_prompt("review this diff"), ctx)
            return info.value

    error = asyncio.run(denied())
    (pasted,) = [b for b in blocks("") if b.startswith("lane 'review'")]
    assert str(error) + "\n" == pasted
