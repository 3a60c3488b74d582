"""Lane resolution and the TaskContext built from headers, metadata and the body."""

from __future__ import annotations

import pytest

from laneway.config.loader import load_config
from laneway.config.model import Config
from laneway.server.context import LaneResolver, build_context, context_fields
from laneway.server.errors import ApiError
from laneway.types import Complexity, ModelRef


@pytest.fixture
def config() -> Config:
    return load_config(
        {
            "providers": {"fake": {"kind": "fake"}},
            "lanes": {
                "coding": {"primary": "fake/a", "fallback": ["fake/b"]},
                "chat": {"primary": "fake/b"},
                "review": {"primary": "fake/a"},
            },
        },
        env={},
    )


def test_a_lane_name_or_a_lanes_primary_resolves(config: Config) -> None:
    lanes = LaneResolver(config)
    assert lanes.resolve("chat", None) == ("chat", None)
    assert lanes.resolve("fake/a", None) == ("coding", None)  # first lane in config order
    assert lanes.resolve("fake/b", None) == ("chat", None)
    assert lanes.resolve("gpt-4o", "review") == ("review", None)  # a header lane wins


def test_any_other_model_of_a_configured_provider_is_pinned(config: Config) -> None:
    lanes = LaneResolver(config)
    # in a lane's fallback chain: that lane's budgets and limits apply
    assert lanes.resolve("fake/b", "coding") == ("coding", ModelRef("fake", "b"))
    # in no lane: the header must say which lane's budgets apply
    assert lanes.resolve("fake/zzz", "review") == ("review", ModelRef("fake", "zzz"))


@pytest.mark.parametrize(
    ("model", "override", "param"),
    [
        ("nope", None, "model"),
        ("fake/zzz", None, "model"),
        ("openai/", None, "model"),
        ("coding", "nope", "x-laneway-lane"),
    ],
)
def test_unknown_lane_or_model_is_404(
    config: Config, model: str, override: str | None, param: str
) -> None:
    with pytest.raises(ApiError) as info:
        LaneResolver(config).resolve(model, override)
    assert (info.value.status, info.value.param) == (404, param)


def test_headers_win_over_metadata_and_metadata_over_user() -> None:
    named, extra = context_fields(
        {b"x-laneway-phase": b" build ", b"x-laneway-job-id": b"j-h", b"x-other": b"o"},
        {"phase": "plan", "complexity": "HIGH", "user_id": "u-m", "team": "x"},
    )
    ctx = build_context(
        lane="coding",
        named=named,
        extra=extra,
        user="u-body",
        request_id="r",
        budget_remaining_usd=1.5,
    )
    assert ctx.phase == "build"
    assert ctx.job_id == "j-h"
    assert ctx.complexity is Complexity.HIGH
    assert ctx.user_id == "u-m"
    assert ctx.metadata == {"team": "x"}
    assert (ctx.request_id, ctx.budget_remaining_usd) == ("r", 1.5)


def test_body_user_is_the_fallback_user_id() -> None:
    named, extra = context_fields({}, {})
    ctx = build_context(
        lane="c", named=named, extra=extra, user="u", request_id="r", budget_remaining_usd=None
    )
    assert ctx.user_id == "u"


def test_a_bad_complexity_is_400() -> None:
    named, extra = context_fields({b"x-laneway-complexity": b"extreme"}, {})
    with pytest.raises(ApiError) as info:
        build_context(
            lane="c", named=named, extra=extra, user=None, request_id="r", budget_remaining_usd=None
        )
    assert info.value.status == 400


@pytest.mark.parametrize("name", ["Q" * 201, "gpt 4o", "m1\r\nX: y", "modèle"])
def test_a_pinned_model_id_is_bounded_and_printable(config: Config, name: str) -> None:
    """A pinned id becomes a breaker key and a metrics label: a 1 MB or CR-carrying one
    would grow /metrics by megabytes or break its lines."""
    with pytest.raises(ApiError) as info:
        LaneResolver(config).resolve(f"fake/{name}", "review")
    assert (info.value.status, info.value.param, info.value.code) == (400, "model", "invalid_field")
    assert LaneResolver(config).resolve("fake/" + "Q" * 200, "review")[1] == ModelRef(
        "fake", "Q" * 200
    )
