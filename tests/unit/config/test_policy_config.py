"""`policies:` at load: clear errors (file, key path, line, fix) and warnings that still load."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from laneway.config import ConfigError, load_config

HEAD = """\
providers:
  local: {kind: local}
  cloud: {kind: fake, models: {opus-4: {price: {input: 15, output: 75}}}}
lanes:
  coding: {primary: local/echo, fallback: [cloud/opus-4]}
  planning: {primary: cloud/opus-4}
server:
  keys:
    - {key: plain-test-key, name: batch}
policies:
"""


def not_callable_hook() -> None:
    """Referenced as a hook target that exists and is callable (the good case)."""


NOT_CALLABLE = 42


def load(tmp_path: Path, policies: str) -> object:
    path = tmp_path / "laneway.yaml"
    path.write_text(HEAD + policies, encoding="utf-8")
    return load_config(path, env={})


def error_of(tmp_path: Path, policies: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, policies)
    return info.value


def test_the_issue_examples_load(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        f"""\
  - name: private-stays-local
    when: {{tags: [private]}}
    allow_providers: [local]
  - name: opus-for-planning-only
    when: {{lane_not: [planning]}}
    deny_models: ["cloud/opus-*"]
  - name: review-price-cap
    when: {{lane: coding, key: batch, job: "nightly-*"}}
    max_price_usd_per_mtok: {{output: 15}}
  - name: strict-budgets
    on_budget_miss: block
  - name: ours
    hook: {__name__}:not_callable_hook
""",
    )
    assert [p.name for p in config.spec.policies] == [  # type: ignore[attr-defined]
        "private-stays-local",
        "opus-for-planning-only",
        "review-price-cap",
        "strict-budgets",
        "ours",
    ]
    assert config.warnings == ()  # type: ignore[attr-defined]
    hook = config.policy_hooks[f"{__name__}:not_callable_hook"]  # type: ignore[attr-defined]
    assert hook is not_callable_hook


@pytest.mark.parametrize(
    ("policies", "path", "fragments"),
    [
        (
            "  - {name: a, deny_providers: [cloud]}\n  - {name: a, deny_providers: [local]}\n",
            "policies[1].name",
            ("'a' is used twice", "line 12", "own name"),
        ),
        (
            "  - {name: a, when: {lane: [codng]}, deny_providers: [cloud]}\n",
            "policies[0].when.lane",
            ("unknown lane 'codng'", "coding, planning", "line 11"),
        ),
        (
            "  - {name: a, deny_models: [opus-*]}\n",
            "policies[0].deny_models[0]",
            ("'opus-*' does not name its provider", "'*/opus-*'"),
        ),
        (
            "  - {name: a, hook: no_such_module_here:check}\n",
            "policies[0].hook",
            ("'no_such_module_here' cannot be imported", "PYTHONPATH"),
        ),
        (
            f"  - {{name: a, hook: '{__name__}:NOT_CALLABLE'}}\n",
            "policies[0].hook",
            ("NOT_CALLABLE is not callable", "def NOT_CALLABLE(ctx, candidate)"),
        ),
        (
            f"  - {{name: a, hook: '{__name__}:missing'}}\n",
            "policies[0].hook",
            ("missing does not exist",),
        ),
        (
            "  - {name: a, when: {lane: coding}}\n",
            "policies[0]",
            ("needs an action", "allow_providers"),
        ),
        (
            "  - {name: a, deny_provider: [cloud]}\n",
            "policies[0].deny_provider",
            ("deny_provider",),
        ),
        (
            "  - {name: a, when: {complexity: extreme}, deny_providers: [cloud]}\n",
            "policies[0].when.complexity",
            ("extreme",),
        ),
        (
            "  - {name: a, hook: 'not a hook'}\n",
            "policies[0].hook",
            ("is not a hook reference", "module:callable"),
        ),
    ],
)
def test_bad_policies_name_the_key_and_the_fix(
    tmp_path: Path, policies: str, path: str, fragments: tuple[str, ...]
) -> None:
    error = error_of(tmp_path, policies)
    assert error.path == path
    assert str(tmp_path / "laneway.yaml") in str(error)
    for fragment in fragments:
        assert fragment in str(error), str(error)


def test_a_glob_matching_nothing_is_a_warning_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="laneway.config"):
        config = load(
            tmp_path,
            "  - name: a\n    deny_models: [cloud/gpt-9*, cloud/opus-4]\n"
            "    allow_providers: [local, ollama]\n    when: {key: [nightly]}\n",
        )
    warnings = config.warnings  # type: ignore[attr-defined]
    assert len(warnings) == 3
    assert "policies[0].when.key" in warnings[0]
    assert "client key 'nightly'" in warnings[0]
    assert "provider 'ollama' is not configured" in warnings[1]
    assert "policies[0].deny_models[0] (line 12)" in warnings[2]
    assert "'cloud/gpt-9*' matches no configured model" in warnings[2]
    assert [r.getMessage() for r in caplog.records] == list(warnings)
