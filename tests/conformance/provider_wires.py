"""The fixture sets the provider conformance suite (`test_providers.py`) runs over."""

from __future__ import annotations

import pytest
from wire_anthropic import ANTHROPIC
from wire_gemini import GEMINI
from wire_openai import OPENAI
from wire_set import REQUEST, Answer, ErrorCase, StreamCut, Wire

WIRES = (OPENAI, ANTHROPIC, GEMINI)
EACH_WIRE = pytest.mark.parametrize("wire", WIRES, ids=[wire.kind for wire in WIRES])

__all__ = ["EACH_WIRE", "REQUEST", "WIRES", "Answer", "ErrorCase", "StreamCut", "Wire"]
