"""The user documentation stays true to the code: its examples load and its pasted output is real.

Every ```yaml block of `docs/configuration.md`, `docs/routing.md` and `docs/clients.md` whose first
line is `# laneway.yaml` is a complete config and must load through
`laneway.config.load_config`. Blocks without that marker are fragments and are
not loaded. The routing reasoning and the load errors pasted into the docs are
regenerated here and must still appear there, word for word.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from laneway.config import Config, ConfigError, load_config
from laneway.errors import RoutingExhaustedError
from laneway.routing import load_routing_provider
from laneway.types import Capability, Complexity, ModelRef, TaskContext

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
BAD_CONFIGS = ROOT / "tests" / "fixtures" / "bad_configs"
TESTED_DOCS = ("configuration.md", "routing.md", "clients.md")
MARKER = "# laneway.yaml"
_YAML_BLOCK = re.compile(r"^```yaml[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)

#: What the examples' ${VAR} references read; none may be a LANEWAY_LANE_* override.
ENV = {
    "ANTHROPIC_API_KEY": "sk-ant-doc-test",
    "ANTHROPIC_KEY_TEAM_B": "sk-ant-doc-test-b",
    "OPENAI_API_KEY": "sk-doc-test",
    "ZAI_API_KEY": "zai-doc-test",
    "LANEWAY_CLIENT_KEY": "client-doc-test",
    "LANEWAY_ADMIN_KEY": "admin-doc-test",
}


def doc_text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def marked_examples(name: str) -> list[str]:
    """The full-config YAML blocks of one doc, in order."""
    blocks = _YAML_BLOCK.findall(doc_text(name))
    return [block for block in blocks if block.lstrip().startswith(MARKER + "\n")]


def all_examples() -> list[Any]:
    return [
        pytest.param(name, index, block, id=f"{name}#{index}")
        for name in TESTED_DOCS
        for index, block in enumerate(marked_examples(name))
    ]


def load_example(block: str, env: dict[str, str] | None = None) -> Config:
    data = yaml.safe_load(block)
    assert isinstance(data, dict), "a `# laneway.yaml` example must be a mapping of sections"
    return load_config(data, env=ENV if env is None else env)


def squash(text: str) -> str:
    """Whitespace runs as one space, so output wrapped by the terminal still matches."""
    return " ".join(text.split())


@pytest.mark.parametrize(("doc", "index", "block"), all_examples())
def test_marked_example_loads(doc: str, index: int, block: str) -> None:
    config = load_example(block)
    assert config.lanes, f"{doc} example {index} declares no lane"


@pytest.mark.parametrize(
    ("doc", "minimum"), [("configuration.md", 6), ("routing.md", 1), ("clients.md", 1)]
)
def test_docs_keep_their_tested_examples(doc: str, minimum: int) -> None:
    """A lost marker would silently stop testing an example; the count guards it."""
    assert len(marked_examples(doc)) >= minimum


def test_interpolation_example_behaves_as_documented() -> None:
    block = next(b for b in marked_examples("configuration.md") if "OLLAMA_URL" in b)
    config = load_example(block, env={"LOCAL_MODEL": ""})
    ollama = config.providers["ollama"]
    assert ollama.base_url == "http://127.0.0.1:11434/v1"  # unset -> the default
    assert ollama.headers == {"X-Template": "${not_interpolated}"}  # $${ is a literal ${
    assert config.lanes["default"].primary == ModelRef("ollama", "llama3.1:8b")  # empty -> default
    assert config.spec.server.port == 8080


def test_lane_override_example_behaves_as_documented() -> None:
    overrides = {
        "LANEWAY_LANE_CODING": "zai/glm-4.7",
        "LANEWAY_LANE_CODING_FALLBACK": "anthropic/claude-sonnet-4-5,local/echo",
    }
    for var, value in overrides.items():
        assert f"{var}={value}" in doc_text("configuration.md")
    config = load_example(marked_examples("configuration.md")[0], env={**ENV, **overrides})
    assert config.lanes["coding"].candidates == (
        ModelRef("zai", "glm-4.7"),
        ModelRef("anthropic", "claude-sonnet-4-5"),
        ModelRef("local", "echo"),
    )
    assert config.overrides["lanes.coding.fallback"] == "LANEWAY_LANE_CODING_FALLBACK"


@pytest.mark.parametrize("fixture", ["unknown_key", "capability_missing"])
def test_pasted_load_errors_are_current(fixture: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(BAD_CONFIGS / f"{fixture}.yaml", env={})
    error = caught.value
    text = doc_text("configuration.md")
    assert f"{fixture}.yaml:{error.path}: {error.message}\n" in text
    assert f"  fix: {error.hint}\n" in text


ROUTED = [
    pytest.param(TaskContext("planning", complexity=Complexity.HIGH), id="rule-matches"),
    pytest.param(TaskContext("coding"), id="over-lane-budget"),
    pytest.param(
        TaskContext("coding", phase="draft", requires=frozenset({Capability.TOOLS})),
        id="rule-passed-over",
    ),
    pytest.param(
        TaskContext("coding", phase="draft", requires=frozenset({Capability.VISION})),
        id="nothing-fits",
    ),
    pytest.param(TaskContext("planning", budget_remaining_usd=0.005), id="context-budget"),
]


@pytest.mark.parametrize("ctx", ROUTED)
def test_pasted_routing_output_is_current(ctx: TaskContext) -> None:
    """Each `laneway route` run pasted into routing.md still gives that decision."""
    config = load_example(marked_examples("routing.md")[0], env={})
    decision = load_routing_provider(config).route(ctx)
    chain = " → ".join(str(ref) for ref in decision.fallback_chain) or "(none)"
    shown = f"model {decision.model} fallback {chain} method static reasoning {decision.reasoning}"
    assert squash(shown) in squash(doc_text("routing.md"))


def test_pasted_rule_fallback_json_is_current() -> None:
    config = load_example(marked_examples("routing.md")[0], env={})
    decision = load_routing_provider(config).route(TaskContext("coding", phase="review"))
    assert decision.fallback_chain == (ModelRef("local", "echo"),)
    assert f'"reasoning": "{decision.reasoning}",' in doc_text("routing.md")


def test_pasted_null_routing_and_capability_error_are_current() -> None:
    text = squash(doc_text("routing.md"))
    null = load_config(
        {
            "providers": {"local": {"kind": "local"}},
            "lanes": {"coding": {"primary": "local/echo", "fallback": ["local/safety"]}},
            "routing": {"method": None},
        },
        env={},
    )
    decision = load_routing_provider(null).route(TaskContext("coding"))
    assert decision.fallback_chain == ()
    assert squash(f"fallback (none) method null reasoning {decision.reasoning}") in text
    nocap = load_config(
        {
            "providers": {"local": {"kind": "local"}},
            "lanes": {"drafts": {"primary": "local/echo", "fallback": ["local/safety"]}},
        },
        env={},
    )
    with pytest.raises(RoutingExhaustedError) as caught:
        load_routing_provider(nocap).route(
            TaskContext("drafts", requires=frozenset({Capability.TOOLS}))
        )
    assert squash(f"error: {caught.value}") in text


PY_MARKER = "# tested: tests/unit/docs/test_doc_examples.py"
_PY_WITH_OUTPUT = re.compile(
    r"^```python[ \t]*\n(.*?)^```[ \t]*\n\s*prints:\s*\n\s*```text[ \t]*\n(.*?)^```",
    re.DOTALL | re.MULTILINE,
)


def python_examples(name: str) -> list[Any]:
    found = _PY_WITH_OUTPUT.findall(doc_text(name))
    return [
        pytest.param(code, output, id=f"{name}#{index}")
        for index, (code, output) in enumerate(found)
        if code.startswith(PY_MARKER)
    ]


def test_providers_doc_keeps_its_python_examples() -> None:
    assert len(python_examples("providers.md")) >= 2


@pytest.mark.parametrize(("code", "output"), python_examples("providers.md"))
def test_python_example_prints_what_the_doc_says(
    code: str, output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from laneway.providers.local import default_registry

    before = default_registry.names()
    try:
        exec(compile(code, "<providers.md example>", "exec"), {"__name__": "__doc_example__"})
    finally:
        for name in set(default_registry.names()) - set(before):
            default_registry.unregister(name)
    assert capsys.readouterr().out == output


# -- every snippet meant to run, runs --------------------------------------------------
#
# Every ```python, ```bash and ```sh block of README.md and docs/*.md is run:
# - python: as a program in a workspace holding the `laneway init` config with
#   its hosted providers replaced by the scripted `fake` provider (the same
#   models, prices and capabilities, no key); blocks talking to a server
#   (`OpenAI(base_url=...)`) are run against a real one by
#   tests/integration/server/test_doc_sdk_snippets.py; blocks marked PY_MARKER
#   are run above, their output compared;
# - bash/sh: each `laneway ...` line, in that workspace, must exit 0.
# A block that is not meant to run says so, and why, on the line before it:
# `<!-- not run: reason -->`. Nothing else is skipped, so a new snippet is
# tested the day it is written.

SNIPPET_FILES = (ROOT / "README.md", *sorted(DOCS.glob("*.md")))
NOT_RUN = re.compile(r"<!-- not run: [^>]+ -->\s*$")
_RUNNABLE = re.compile(r"^```(python|bash|sh)[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
SDK_MARKS = ("OpenAI(base_url=", "Anthropic(base_url=")


def snippets(language: str) -> list[Any]:
    """(file, index, code) of each runnable block in `language`, unless marked not run."""
    found: list[Any] = []
    for path in SNIPPET_FILES:
        text = path.read_text(encoding="utf-8")
        for index, match in enumerate(_RUNNABLE.finditer(text)):
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            if NOT_RUN.search(before):
                continue
            lang = "bash" if match.group(1) == "sh" else match.group(1)
            if lang == language:
                found.append(pytest.param(match.group(2), id=f"{path.name}#{index}"))
    return found


def program_snippets() -> list[Any]:
    return [
        p
        for p in snippets("python")
        if not any(mark in p.values[0] for mark in SDK_MARKS)
        and not p.values[0].startswith(PY_MARKER)
    ]


def workspace(path: Path) -> Path:
    """`laneway init`'s config, its hosted providers faked, in `path`; audit in laneway.db."""
    from laneway.cli.init import example_config

    config = path / "laneway.yaml"
    config.write_text(example_config(), encoding="utf-8")
    faked(config)
    return path


def faked(config: Path) -> None:
    from laneway.cli.simulation import simulated_config
    from laneway.config.yaml_reader import read_yaml

    raw, _ = read_yaml(config.read_text(encoding="utf-8"), str(config))
    data = simulated_config(load_config(config, env={}), raw, "sqlite:///laneway.db")
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def child_env() -> dict[str, str]:
    """No provider key, no laneway setting from the developer's shell; this venv first."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LANEWAY_") and not k.endswith(("_API_KEY", "_TOKEN"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    return env


def test_every_document_has_its_snippets_found() -> None:
    """The collector sees the blocks it should (a broken regex would test nothing)."""
    assert len(program_snippets()) >= 2  # README's library example, resilience.md's
    assert len(snippets("bash")) >= 2  # README's `Use it`, configuration.md's schema line


@pytest.mark.slow
@pytest.mark.parametrize("code", program_snippets())
def test_python_snippet_runs(code: str, tmp_path: Path) -> None:
    (workspace(tmp_path) / "snippet.py").write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "snippet.py"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("code", snippets("bash"))
def test_shell_snippet_runs(code: str, tmp_path: Path) -> None:
    """Each `laneway` line in order; `laneway init` runs first in the empty directory, then
    its providers are faked. `laneway serve` must start and is then stopped."""
    lines = [line.split("  #")[0].strip() for line in code.splitlines()]
    commands = [line for line in lines if line]
    assert all(c.startswith("laneway ") for c in commands), (
        "a block with other commands needs a `<!-- not run: reason -->` line before it"
    )
    if not any(c.startswith("laneway init") for c in commands):
        workspace(tmp_path)
    for command in commands:
        if command.startswith("laneway serve"):
            assert_serve_starts(command, tmp_path)
            continue
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        if command.startswith("laneway init"):
            faked(tmp_path / "laneway.yaml")


def assert_serve_starts(command: str, cwd: Path) -> None:
    """The server prints its lanes and listens; port 0 instead of the snippet's."""
    args = re.sub(r"--port \d+", "--port 0", command)
    seen: list[str] = []
    with subprocess.Popen(
        ["bash", "-c", f"exec {args}"],
        cwd=cwd,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as child:
        try:
            assert child.stdout is not None
            for line in child.stdout:  # blocks until the child writes; EOF if it dies
                seen.append(line)
                if "Uvicorn running on" in line:
                    break
        finally:
            child.terminate()
            child.wait(timeout=30)
    output = "".join(seen)
    assert "Uvicorn running on" in output, output
    assert "coding: ready" in output


def test_pasted_simulate_output_is_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from laneway.cli.main import app

    monkeypatch.chdir(tmp_path)  # the built-in default, as the doc says
    args = ["simulate", "--down", "anthropic", "--requests", "10", "--concurrency", "1"]
    env = {"ANTHROPIC_API_KEY": "sk-ant-doc", "OPENAI_API_KEY": "sk-doc", "COLUMNS": "200"}
    for var in ("GEMINI_API_KEY", "ZAI_API_KEY", "GITHUB_TOKEN", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(app, [*args, "--lane", "planning"], env=env)
    assert result.exit_code == 0, result.output
    text = doc_text("resilience.md")
    assert f"$ laneway {' '.join(args)} --lane planning\n" in text
    assert squash(result.output) in squash(text)
