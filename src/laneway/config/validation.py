"""Pydantic validation errors, retold as one short line per problem with a fix.

Pydantic's own report names internal locations (`providers.zai.openai_compatible
.preset`, `retry.foo.[key]`) and model names; we walk the location along the
data the user wrote, drop what is not theirs, and add a hint per error type:
the allowed keys (with a close match), the allowed values, or the bound.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel, ValidationError

from laneway.config.schema import ConfigSpec
from laneway.config.yaml_reader import PathKey, format_path
from laneway.errors import ConfigError

MAX_PROBLEMS = 8

_KIND_HINT = (
    "set `kind:` to one of anthropic, openai, gemini, openai_compatible, local, fake; "
    "GLM, OpenRouter, Groq, Ollama and vLLM are `kind: openai_compatible` with a `preset:`"
)

_TYPE_WORDS = {
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "list_type": "a list (`- item` lines or [a, b])",
    "string_type": "a string",
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    message: str
    hint: str | None


def to_config_error(
    exc: ValidationError, data: Any, *, file: str, lines: Mapping[PathKey, int]
) -> ConfigError:
    """One ConfigError for all problems: fields set for one, a list in the message for more."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for error in exc.errors(include_url=False):
        path = _user_path(error["loc"], data)
        problem = _describe(error, path, data, lines)
        if problem.path not in seen:
            seen.add(problem.path)
            problems.append(problem)
    if len(problems) == 1:
        only = problems[0]
        return ConfigError(only.message, file=file, path=only.path or None, hint=only.hint)
    shown = problems[:MAX_PROBLEMS]
    body = [f"{len(problems)} problems:"]
    for problem in shown:
        fix = f"; fix: {problem.hint}" if problem.hint else ""
        body.append(f"  - {problem.path or '<top>'}: {problem.message}{fix}")
    if len(problems) > len(shown):
        body.append(f"  ... and {len(problems) - len(shown)} more")
    return ConfigError("\n".join(body), file=file)


def _user_path(loc: Sequence[int | str], data: Any) -> PathKey:
    """The location as the user wrote it: union tags and `[key]` markers dropped."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        if _has_child(node, part):
            path.append(part)
            node = node[part]
        elif index == len(loc) - 1 and part != "[key]" and isinstance(node, dict):
            path.append(part)
    return tuple(path)


def _has_child(node: Any, part: int | str) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


def _describe(
    error: Mapping[str, Any], path: PathKey, data: Any, lines: Mapping[PathKey, int]
) -> Problem:
    kind = str(error["type"])
    text = format_path(path)
    value = error.get("input")
    ctx = error.get("ctx") or {}
    at = _line(path, lines)
    key = path[-1] if path else ""
    if kind == "extra_forbidden":
        parent = _model_at(path[:-1], data)
        return Problem(text, f"unknown key {key!r}{at}", _allowed_keys_hint(str(key), parent))
    if kind == "missing":
        return Problem(text, f"missing required key {key!r}{at}", _missing_hint(path))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = ctx.get("tag")
        what = f"unknown provider kind {tag!r}" if tag else "provider has no `kind`"
        return Problem(format_path((*path, "kind")), what + at, _KIND_HINT)
    if kind in ("literal_error", "enum"):
        return _choice_problem(text, key, value, str(ctx.get("expected", "")), at, error)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return _bound_problem(text, kind, value, ctx, at)
    if kind == "string_pattern_mismatch" and key in _PATTERN_HINTS:
        what, hint = _PATTERN_HINTS[str(key)]
        return Problem(text, f"{_show(value)} is not {what}{at}", hint)
    if kind in _TYPE_WORDS:
        return Problem(
            text, f"expected {_TYPE_WORDS[kind]}, got {_show(value)}{at}", _type_hint(path)
        )
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return Problem(text, message[:1].lower() + message[1:] + at, None)


#: keys whose value must match a pattern: (what it must be, how to write it)
_PATTERN_HINTS: Mapping[str, tuple[str, str]] = {
    "hook": ("a hook reference", "write module:callable, e.g. `hook: mycompany.routing:check`"),
    "name": (
        "a usable name",
        "use letters, digits, '_', '.' or '-' (at most 64), starting with a letter or digit",
    ),
}


def _choice_problem(
    text: str, key: str | int, value: Any, expected: str, at: str, error: Mapping[str, Any]
) -> Problem:
    is_key = "[key]" in error["loc"]
    noun = {"preset": "preset", "method": "routing method"}.get(str(key), "value")
    if is_key:
        noun = "error code"
    elif isinstance(key, int) or key in ("requires", "capabilities"):
        noun = "capability"
    options = expected.replace("'", "")
    close = difflib.get_close_matches(str(value), [o.strip() for o in options.split(",")], n=1)
    suggestion = f"did you mean {close[0]!r}? " if close else ""
    return Problem(text, f"unknown {noun} {_show(value)}{at}", f"{suggestion}use one of: {options}")


def _bound_problem(text: str, kind: str, value: Any, ctx: Mapping[str, Any], at: str) -> Problem:
    bound = next(iter(ctx.values()), "?")
    symbol = {"greater_than_equal": ">=", "greater_than": ">"}.get(kind, "<=")
    if kind == "less_than":
        symbol = "<"
    negative = kind == "greater_than_equal" and bound == 0
    message = (
        f"must not be negative (got {value}){at}"
        if negative
        else (f"must be {symbol} {bound} (got {value}){at}")
    )
    hint = (
        "use an amount of 0 or more, or remove the key for no limit"
        if negative
        else f"use a value {symbol} {bound}"
    )
    return Problem(text, message, hint)


def _line(path: PathKey, lines: Mapping[PathKey, int]) -> str:
    probe = path
    while probe:
        if probe in lines:
            return f" (line {lines[probe]})"
        probe = probe[:-1]
    return ""


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _missing_hint(path: PathKey) -> str:
    key = path[-1] if path else ""
    where = format_path(path[:-1]) or "the top level"
    examples = {
        "primary": "primary: anthropic/claude-sonnet-4-5",
        "model": "model: provider/model",
        "when": "when: {phase: plan}",
        "lane": "lane: safety",
        "routing_model": "routing_model: anthropic/claude-haiku-4-5",
        "message": "message: 'Sorry, try again later.'",
        "key": "key: ${LANEWAY_CLIENT_KEY}",
    }
    example = examples.get(str(key), f"{key}: ...")
    return f"add `{example}` under {where}"


def _type_hint(path: PathKey) -> str | None:
    key = path[-1] if path else ""
    if key in ("fallback", "requires"):
        return f"write {key} as a list, e.g. `{key}: [a, b]`"
    return None


def _allowed_keys_hint(key: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return "remove the key or check its spelling"
    allowed = sorted(model.model_fields)
    close = difflib.get_close_matches(key, allowed, n=1)
    suggestion = f"did you mean {close[0]!r}? " if close else "remove it; "
    return f"{suggestion}allowed keys here: {', '.join(allowed)}"


def _model_at(path: PathKey, data: Any) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `path` (None if not a model)."""
    current: Any = ConfigSpec
    node = data
    for part in path:
        current = _step(_pick_member(current, node), part)
        node = (
            node.get(part)
            if isinstance(node, dict)
            else (node[part] if isinstance(node, list) and isinstance(part, int) else None)
        )
        if current is None:
            return None
    current = _pick_member(current, node)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _step(current: Any, part: str | int) -> Any:
    if isinstance(current, type) and issubclass(current, BaseModel):
        field = current.model_fields.get(str(part))
        return None if field is None else field.annotation
    origin = typing.get_origin(current)
    args = typing.get_args(current)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    return None


def _pick_member(current: Any, node: Any) -> Any:
    """Unwrap Optional/Annotated; pick a tagged-union member by the data's `kind`."""
    while typing.get_origin(current) is typing.Annotated:
        current = typing.get_args(current)[0]
    members = [a for a in typing.get_args(current) if a is not type(None)]
    if not members or typing.get_origin(current) in (dict, list):
        return current
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    if len(models) == 1:
        return models[0]
    if models and isinstance(node, dict):
        for model in models:
            tag = model.model_fields.get("kind")
            if tag is not None and node.get("kind") in typing.get_args(tag.annotation):
                return model
    if len(members) == 1 and not isinstance(members[0], Enum):
        return members[0]
    return current
