"""JSON Schemas that check model output: a lane's `output_schema` or a request's.

A request's schema (`response_format`) comes from a client, so it is untrusted
input. jsonschema, left to its defaults, fetches a remote `$ref` with a blocking
`urlopen` (on the event loop, to an address the client chose), recurses without
end on `{"$ref": "#"}`, and raises on a reference to nowhere. Here a schema is
checked before any provider is called (`schema_problem`), and applying one
(`schema_violations`) resolves references only inside the schema itself and
turns whatever still goes wrong into a reason, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

#: keywords whose values are data, not subschemas: a `$ref` key inside is not a reference
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
_ROOT_URI = "urn:laneway:output-schema"
_MAX_REASONS = 5


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why `schema` cannot check output, or None when it can.

    Checks it against its dialect's metaschema (patterns included), that every
    `$ref` lands inside it and that no chain of references loops, then applies
    it once to `null`, which shows a root that references itself endlessly.
    """
    from jsonschema import SchemaError

    validator_class = _validator_class(schema)
    try:
        validator_class.check_schema(schema)
    except SchemaError as exc:
        return f"{_where(exc.path)}: {exc.message}"
    except RecursionError:
        return "the schema is nested too deeply"
    problem = _reference_problem(schema)
    if problem is not None:
        return problem
    try:
        _violations(schema, None)
    except _CannotApply as exc:
        return str(exc)
    return None


def schema_violations(schema: Mapping[str, Any], instance: Any) -> list[str]:
    """Up to five reasons `instance` breaks `schema`, each `schema: <where>: <what>`.

    References resolve only inside the schema: nothing is fetched.
    """
    try:
        return _violations(schema, instance)
    except _CannotApply as exc:
        return [str(exc)]


class _CannotApply(Exception):
    """The schema itself fails while checking an instance; the message says how."""


def _violations(schema: Mapping[str, Any], instance: Any) -> list[str]:
    from referencing import Registry
    from referencing.exceptions import Unresolvable

    validator = _validator_class(schema)(dict(schema), registry=Registry())
    try:
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    except Unresolvable as exc:
        raise _CannotApply(
            f"the schema cannot be applied: a $ref resolves to nothing ({exc})"[:200]
        ) from None
    except RecursionError:
        raise _CannotApply(
            "the schema cannot be applied: its references loop without end"
        ) from None
    except re.error as exc:
        raise _CannotApply(
            f"the schema cannot be applied: a pattern is not a valid regex ({exc})"[:200]
        ) from None
    return [f"schema: {_where(e.path)}: {e.message}"[:200] for e in errors[:_MAX_REASONS]]


def _validator_class(schema: Mapping[str, Any]) -> Any:
    from jsonschema import Draft202012Validator, validators

    return validators.validator_for(schema, default=Draft202012Validator)


def _where(path: Any) -> str:
    return "/".join(str(part) for part in path) or "(root)"


def _reference_problem(schema: Mapping[str, Any]) -> str | None:
    """A `$ref` that points outside the schema or to nowhere, or a loop of them."""
    refs = list(_references(schema, ()))
    if not refs or any(where for where, key, _ in _walk(schema, ()) if key == "$id" and where):
        return None  # nested `$id`s move the base URI: left to `schema_violations`
    from referencing import Registry
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import specification_with

    dialect = schema.get("$schema", "https://json-schema.org/draft/2020-12/schema")
    try:
        specification = specification_with(str(dialect))
    except Unresolvable:
        return f"$schema: unknown dialect {dialect!r}"
    resource = specification.create_resource(dict(schema))
    resolver = Registry().with_resource(_ROOT_URI, resource).crawl().resolver(base_uri=_ROOT_URI)
    for where, ref in refs:
        seen: set[str] = set()
        target = ref
        while True:
            try:
                contents = resolver.lookup(target).contents
            except Unresolvable:
                return (
                    f"{_where(where)}: $ref {ref!r} resolves to nothing inside this schema "
                    "(references are resolved within the schema only; nothing is fetched)"
                )
            nxt = contents.get("$ref") if isinstance(contents, Mapping) else None
            if not isinstance(nxt, str):
                break
            if target in seen:
                return f"{_where(where)}: $ref {ref!r} starts a loop of references"
            seen.add(target)
            target = nxt
    return None


def _references(schema: Any, where: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    for path, key, value in _walk(schema, where):
        if key == "$ref" and isinstance(value, str):
            yield path, value


def _walk(node: Any, where: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str, Any]]:
    """(path of the object, key, value) for every key of every subschema object."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(node, where)]
    while stack:
        current, path = stack.pop()
        if isinstance(current, Mapping):
            for key, value in current.items():
                yield path, str(key), value
                if key not in _DATA_KEYWORDS:
                    stack.append((value, (*path, str(key))))
        elif isinstance(current, list):
            stack.extend((item, (*path, str(i))) for i, item in enumerate(current))
