"""The documents' `openai` and `anthropic` SDK snippets, run as written against a real server.

Only the address (the docs say 127.0.0.1:8080; the test server has its own port)
and the placeholder key (a key from `laneway keys create`) are substituted. Every
other ```python block is run by tests/unit/docs/test_doc_examples.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from server_harness import Serve, fake_config

from laneway.cli.keys import new_key

ROOT = Path(__file__).resolve().parents[3]
SDK_MARKS = ("OpenAI(base_url=", "Anthropic(base_url=")
_PYTHON = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def sdk_snippets() -> list[Any]:
    found = []
    for path in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        for index, code in enumerate(_PYTHON.findall(path.read_text(encoding="utf-8"))):
            if any(mark in code for mark in SDK_MARKS):
                found.append(pytest.param(code, id=f"{path.name}#{index}"))
    return found


def test_the_readme_and_server_doc_have_sdk_snippets() -> None:
    assert {p.id.split("#")[0] for p in sdk_snippets()} >= {"README.md", "server.md", "clients.md"}


@pytest.mark.parametrize("code", sdk_snippets())
def test_sdk_snippet_gets_an_answer(code: str, serve: Serve, tmp_path: Path) -> None:
    key, digest = new_key()
    server = serve(fake_config(server={"keys": [{"key": digest, "name": "docs"}]}))
    runnable = code.replace("http://127.0.0.1:8080", server.url)
    runnable = re.sub(r'api_key="[^"]*"', f'api_key="{key}"', runnable)
    assert runnable != code
    (tmp_path / "snippet.py").write_text(runnable + "\nprint('snippet ok')\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "snippet.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("snippet ok\n")
    assert server.fake.calls  # the answer came through the server to the fake provider
