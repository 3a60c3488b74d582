"""Read `laneway.yaml`: safe YAML, duplicate keys refused, and a line for every key path.

PyYAML silently keeps the last of two equal keys, so a second `coding:` under
`lanes:` would replace the first without a word. We refuse it instead. The
line map lets every later error (pydantic or cross-reference) say where in
the file the offending key is.
"""

from __future__ import annotations

from typing import Any

import yaml

from laneway.errors import ConfigError

PathKey = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str) and key in seen:
                line = key_node.start_mark.line + 1
                raise _DuplicateKeyError(key, line, seen[key])
            if isinstance(key, str):
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


class _DuplicateKeyError(Exception):
    def __init__(self, key: str, line: int, first_line: int) -> None:
        super().__init__(key)
        self.key = key
        self.line = line
        self.first_line = first_line


def read_yaml(text: str, file: str) -> tuple[Any, dict[PathKey, int]]:
    """Parsed data and {key path: 1-based line}. Raises ConfigError with the line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except _DuplicateKeyError as exc:
        raise _duplicate_error(exc, file, node_path=_find_path(text, exc.line)) from exc
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from exc
    finally:
        loader.dispose()
    lines: dict[PathKey, int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return data, lines


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
    problem = exc.problem or exc.context or "syntax error"
    return ConfigError(
        f"YAML syntax error at {where}: {problem}",
        file=file,
        hint="check the indentation and quoting around that line "
        "(values containing ': ' or starting with '{' or '*' need quotes)",
    )


def _duplicate_error(exc: _DuplicateKeyError, file: str, node_path: str | None) -> ConfigError:
    path = f"{node_path}.{exc.key}" if node_path else exc.key
    return ConfigError(
        f"duplicate key {exc.key!r} (line {exc.line}; first defined on line {exc.first_line})",
        file=file,
        path=path,
        hint=f"keep one {exc.key!r} entry: YAML would silently drop the first one",
    )


def _find_path(text: str, line: int) -> str | None:
    """The dotted path of the mapping that holds `line`, from a plain compose of the text."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    found: list[PathKey] = []

    def visit(node: yaml.Node, path: PathKey) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.start_mark.line + 1 == line and not found:
                    found.append(path)
                visit(value_node, (*path, str(key_node.value)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                visit(item, (*path, index))

    if root is not None:
        visit(root, ())
    return format_path(found[0]) if found and found[0] else None


def _collect_lines(node: yaml.Node, path: PathKey, lines: dict[PathKey, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_path = (*path, str(key_node.value))
            lines[key_path] = key_node.start_mark.line + 1
            _collect_lines(value_node, key_path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _collect_lines(item, (*path, index), lines)


def format_path(path: PathKey) -> str:
    """`('routing', 'rules', 2, 'model')` -> `routing.rules[2].model`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text
