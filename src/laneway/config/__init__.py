"""Configuration: the YAML schema, the loader, and the resolved runtime `Config`.

`load_config(source, env=...)` is the one way in: parse (pydantic, strict), then
resolve (cross-references, defaults, prices, capabilities). Not imported by
`laneway/__init__.py`: pydantic loads only when a config does.
"""

from __future__ import annotations

from laneway.config.loader import load_config
from laneway.config.model import Config, Lane, Rule
from laneway.errors import ConfigError

__all__ = ["Config", "ConfigError", "Lane", "Rule", "load_config"]
