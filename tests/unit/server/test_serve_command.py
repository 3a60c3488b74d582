"""`laneway serve` refuses to expose an open server, says when it is open, and says when
its interpreter is an unoptimised build."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from laneway.cli.main import app
from laneway.cli.serve import check_bind, interpreter_note, is_loopback
from laneway.errors import LanewayError


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "example.com"])
def test_other_hosts_need_keys_or_the_insecure_flag(host: str) -> None:
    with pytest.raises(LanewayError, match="--insecure-no-auth"):
        check_bind(host, has_keys=False, insecure_no_auth=False)
    check_bind(host, has_keys=True, insecure_no_auth=False)
    check_bind(host, has_keys=False, insecure_no_auth=True)


def test_the_command_refuses_an_open_public_bind(tmp_path: Path) -> None:
    config = tmp_path / "laneway.yaml"
    config.write_text("providers: {fake: {kind: fake}}\nlanes: {c: {primary: fake/a}}\n")
    result = CliRunner().invoke(app, ["serve", "--config", str(config), "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "without client keys" in result.output


# CONFIG_ARGS as the machines' interpreters record them (sysconfig.get_config_var)
PYENV_DEFAULT = (
    "'--prefix=/root/.pyenv/versions/3.11.7' '--enable-shared' "
    "'--libdir=/root/.pyenv/versions/3.11.7/lib'"
)
DOCKER_IMAGE = "'--build=x86_64-linux-gnu' '--enable-optimizations' '--enable-shared' '--with-lto'"
DEBIAN = "'--enable-shared' '--prefix=/usr' '--with-computed-gotos' '--without-ensurepip'"


def test_an_unoptimised_source_build_gets_a_note_naming_the_fix() -> None:
    note = interpreter_note(PYENV_DEFAULT, "/root/.pyenv/versions/3.11.7")
    assert note is not None
    assert "--enable-optimizations" in note
    assert "/root/.pyenv/versions/3.11.7" in note
    assert "docs/server.md" in note


@pytest.mark.parametrize(
    ("config_args", "base_prefix"),
    [
        (DOCKER_IMAGE, "/usr/local"),  # built with PGO and says so
        (DEBIAN, "/usr"),  # a distribution's build: optimised, not said in its arguments
        (None, "C:\\Python311"),  # Windows records no configure arguments
    ],
)
def test_optimised_or_unknown_builds_get_no_note(config_args: object, base_prefix: str) -> None:
    assert interpreter_note(config_args, base_prefix) is None


def test_the_command_prints_the_note_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to the point where uvicorn would start: the note is on stderr with the banner."""
    import laneway.cli.serve as serve

    config = tmp_path / "laneway.yaml"
    config.write_text("providers: {fake: {kind: fake}}\nlanes: {c: {primary: fake/a}}\n")
    monkeypatch.setattr(serve.sysconfig, "get_config_var", lambda name: PYENV_DEFAULT)
    monkeypatch.setattr(serve.sys, "base_prefix", "/opt/python-from-source")
    started: list[object] = []
    monkeypatch.setattr(serve, "_serve_one", lambda *args: started.append(args))
    result = CliRunner().invoke(app, ["serve", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert started
    assert "built without --enable-optimizations" in result.output
    assert "/opt/python-from-source" in result.output


def _lane_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    """`laneway serve` on the `laneway init` config, up to uvicorn: its output, by lane."""
    import laneway.cli.serve as serve
    from laneway.cli.init import example_config

    config = tmp_path / "laneway.yaml"
    config.write_text(example_config())
    monkeypatch.setattr(serve, "_serve_one", lambda *args: None)
    result = CliRunner().invoke(app, ["serve", "--config", str(config)], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = {line.split(":")[0].strip(): line for line in result.output.splitlines()}
    return result.output, lines


def test_the_command_says_which_lanes_it_can_serve_and_why_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without keys only `safety` (in-process) can be served."""
    for var in ("ANTHROPIC_API_KEY", "ZAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    output, lines = _lane_lines(tmp_path, monkeypatch)
    assert "ready (local/safety)" in lines["safety"]
    assert "cannot be served" in lines["coding"]
    assert "ZAI_API_KEY" in lines["coding"]
    assert "ANTHROPIC_API_KEY" in lines["coding"]
    assert "cannot be served" in lines["planning"]
    assert "503 not_configured" in output


def test_a_lane_with_one_keyed_model_is_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("ZAI_API_KEY", "zk-test")
    output, lines = _lane_lines(tmp_path, monkeypatch)
    assert "ready (zai/glm-4.7)" in lines["coding"]
    assert "ready (zai/glm-4.7)" in lines["planning"]
    assert "zk-test" not in output
