"""`laneway serve` refuses to expose an open server, and says when it is open."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from laneway.cli.main import app
from laneway.cli.serve import check_bind, is_loopback
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
