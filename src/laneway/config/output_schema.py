"""JSON Schemas that check model output: a lane's `output_schema` or a request's.

A request's schema (`response_format`) comes from a client, so it is untrusted
input. jsonschema, left to its defaults, fetches a remote `$ref` with a blocking
`urlopen` (on the event loop, to an address the client chose), recurses without
end on `{"$ref": "#"}`, and raises on a reference to nowhere. Here a schema is
checked before any provider is called (`schema_problem`), and applying one
(`schema_violations`) resolves references only inside the schema itself and
turns whatever still goes wrong into a reason, never an exception.

A client's `pattern` is a client's regular expression run on the model's
output: `^(a|aa)+$` on 60 characters backtracks for minutes, holding the event
loop. `pattern`, `patternProperties` and `additionalProperties` here search
with the `regex` package under one time budget per validation
(`PATTERN_BUDGET_S`); an output that exhausts it is rejected with that reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from laneway.clock import SystemClock

#: keywords whose values are data, not subschemas: a `$ref` key inside is not a reference
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
_ROOT_URI = "urn:laneway:output-schema"
_MAX_REASONS = 5
#: seconds all of one validation's pattern searches may take together
PATTERN_BUDGET_S = 0.1
_pattern_deadline: ContextVar[float] = ContextVar("pattern_deadline", default=0.0)
#: the budget bounds work done on this thread, not time a test may fake
_cpu_clock = SystemClock.monotonic


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why `schema` cannot check output, or None when it can.

    Checks it against its dialect's metaschema (patterns included), that every
    `$ref` lands inside it and that no chain of references loops, then applies
    it once to `null`, which shows a root that references itself endlessly.
    """
    dialect = schema.get("$schema")
    if dialect is not None and not isinstance(dialect, str):
        return "$schema: must be the URI of a JSON Schema dialect"
    try:
        return _problem(schema)
    except Exception as exc:  # jsonschema or referencing failing on a schema they should refuse
        return f"the schema cannot be used ({type(exc).__name__}: {exc})"[:200]


def _problem(schema: Mapping[str, Any]) -> str | None:
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

    token = _pattern_deadline.set(_cpu_clock() + PATTERN_BUDGET_S)
    try:
        validator = _validator_class(schema)(dict(schema), registry=Registry())
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    except _PatternTooSlow as exc:
        raise _CannotApply(
            f"the schema's patterns took over {PATTERN_BUDGET_S:g} s on this output "
            f"(pattern {exc.pattern!r})"[:200]
        ) from None
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
    except Exception as exc:  # the library's own failure on a schema it let through
        raise _CannotApply(
            f"the schema cannot be applied ({type(exc).__name__}: {exc})"[:200]
        ) from None
    finally:
        _pattern_deadline.reset(token)
    return [f"schema: {_where(e.path)}: {e.message}"[:200] for e in errors[:_MAX_REASONS]]


_BOUNDED: dict[Any, Any] = {}


def _validator_class(schema: Mapping[str, Any]) -> Any:
    """The dialect's validator class, its pattern keywords bounded in time."""
    from jsonschema import Draft202012Validator, validators

    dialect = validators.validator_for(schema, default=Draft202012Validator)
    bounded = _BOUNDED.get(dialect)
    if bounded is None:
        keywords = {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        }
        bounded = _BOUNDED[dialect] = validators.extend(dialect, keywords)  # type: ignore[no-untyped-call]
    return bounded


class _PatternTooSlow(Exception):
    def __init__(self, pattern: str) -> None:
        super().__init__(pattern)
        self.pattern = pattern


def _search(pattern: str, text: str) -> bool:
    import regex

    remaining = _pattern_deadline.get() - _cpu_clock()
    if remaining <= 0:
        raise _PatternTooSlow(pattern)
    try:
        return regex.search(pattern, text, timeout=remaining) is not None
    except TimeoutError:
        raise _PatternTooSlow(pattern) from None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema import ValidationError

    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for name, value in instance.items():
            if _search(pattern, name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Any
) -> Iterator[Any]:
    from jsonschema import ValidationError

    if not validator.is_type(instance, "object"):
        return
    named = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    extras = [
        name
        for name in instance
        if name not in named and not any(_search(p, name) for p in patterns)
    ]
    if validator.is_type(additional, "object"):
        for name in extras:
            yield from validator.descend(instance[name], additional, path=name)
    elif additional is False and extras:
        listed = ", ".join(repr(name) for name in extras)
        verb = "was" if len(extras) == 1 else "were"
        yield ValidationError(f"Additional properties are not allowed ({listed} {verb} unexpected)")


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
