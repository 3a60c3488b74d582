"""JSON Schemas that check model output: a lane's `output_schema` or a request's.

A request's schema (`response_format`) comes from a client, so it is untrusted
input, and jsonschema left to its defaults trusts it: it fetches a remote `$ref`
with a blocking `urlopen` (on the event loop, to an address the client chose),
recurses without end on `{"$ref": "#"}`, raises on a reference to nowhere, and
runs the client's regular expressions (`^(a|aa)+$` backtracks for minutes on
60 characters) and the client's fan-out (`allOf` twice over a chain of `$defs`
doubles the work at each link) for as long as they take.

So a schema is compiled once (`schema_problem`, cached by content): checked
against its dialect's metaschema, every `$ref` resolved inside the schema
itself, no loop of references, and a dry run on `null`. Applying it
(`schema_violations`) resolves nothing outside it, runs every keyword under one
deadline of `VALIDATION_BUDGET_S` of real time per output (patterns searched
with the `regex` package, whose searches take a timeout), and turns whatever
still goes wrong into a reason, never an exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson

from laneway.clock import SystemClock

#: seconds of real time one output's check may take, every keyword included
VALIDATION_BUDGET_S = 0.2
_MAX_REASONS = 5
#: the largest schema a request may bring, as JSON: compiling one holds the loop for
#: a time in proportion to its size (docs/performance.md, "Measurements behind the code")
REQUEST_SCHEMA_MAX_BYTES = 65_536
#: compiled schemas kept (each at most REQUEST_SCHEMA_MAX_BYTES as a key)
_CACHE_SIZE = 64
_ROOT_URI = "urn:laneway:output-schema"
#: references followed while checking one schema, and the largest unrolled pattern
_MAX_LOOKUPS = 10_000
_MAX_UNROLLED = 2_000
_deadline: ContextVar[float] = ContextVar("schema_deadline", default=0.0)
#: a deadline on real time: a test's FakeClock must not stretch it
_now = SystemClock.monotonic


def schema_problem(schema: Mapping[str, Any], *, max_bytes: int | None = None) -> str | None:
    """Why `schema` cannot check output, or None when it can; `max_bytes` bounds its
    size as JSON (a request's: REQUEST_SCHEMA_MAX_BYTES)."""
    plain, key = _plain_and_key(schema)
    if max_bytes is not None:
        if key is None:  # a request's schema is JSON: only its depth stops orjson
            return "the schema is nested too deeply"
        if len(key) > max_bytes:
            return f"the schema is {len(key)} bytes as JSON, over laneway's limit of {max_bytes}"
    return _compiled(plain, key).problem


def schema_violations(schema: Mapping[str, Any], instance: Any) -> list[str]:
    """Up to five reasons `instance` breaks `schema`, each `schema: <where>: <what>`;
    or the one reason the schema cannot be applied to it."""
    compiled = _compiled(*_plain_and_key(schema))
    try:
        if compiled.validator is None:
            raise _CannotApply(compiled.problem)
        return _violations(compiled.validator, instance)
    except _CannotApply as exc:
        return [f"the schema cannot be applied: {exc}"[:200]]


@dataclass(frozen=True, slots=True)
class _Compiled:
    problem: str | None
    validator: Any  # a jsonschema validator when `problem` is None


_cache: dict[bytes, _Compiled] = {}


def _plain_and_key(schema: Mapping[str, Any]) -> tuple[dict[str, Any], bytes | None]:
    """The schema as a dict (a lane's is read-only) and its canonical JSON, the cache's
    key; None where orjson refuses it (past 255 levels, a YAML date in a lane's)."""
    plain = schema if isinstance(schema, dict) else dict(schema)
    try:
        return plain, orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return plain, None


def _compiled(plain: dict[str, Any], key: bytes | None) -> _Compiled:
    """The schema checked and its validator built, once per distinct schema."""
    if key is None or len(key) > REQUEST_SCHEMA_MAX_BYTES:  # compiled each time
        return _compile(plain)
    compiled = _cache.get(key)
    if compiled is None:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        compiled = _cache[key] = _compile(plain)
    return compiled


def _compile(schema: dict[str, Any]) -> _Compiled:
    dialect = schema.get("$schema")
    if dialect is not None and not isinstance(dialect, str):
        return _Compiled("$schema: must be the URI of a JSON Schema dialect", None)
    try:
        return _check(schema)
    except Exception as exc:  # jsonschema or referencing failing on a schema they should refuse
        return _Compiled(f"the schema cannot be used ({type(exc).__name__}: {exc})"[:200], None)


def _check(schema: dict[str, Any]) -> _Compiled:
    from jsonschema import SchemaError
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012, UnknownDialect, specification_with

    dialect = schema.get("$schema")
    try:
        specification = specification_with(dialect) if dialect else DRAFT202012
    except UnknownDialect:
        return _Compiled(f"$schema: {dialect!r} is no JSON Schema dialect laneway knows", None)
    validator_class = _bounded_class(schema)
    try:
        validator_class.check_schema(schema)
    except SchemaError as exc:
        return _Compiled(f"{_where(exc.path)}: {exc.message}", None)
    except RecursionError:
        return _Compiled("the schema is nested too deeply", None)
    problem = _structure_problem(specification.create_resource(schema))
    if problem is not None:
        return _Compiled(problem, None)
    validator = validator_class(schema, registry=Registry())
    try:
        _violations(validator, None, dry_run=True)  # an endless self-reference shows now
    except _CannotApply as exc:
        return _Compiled(str(exc), None)
    return _Compiled(None, validator)


def _structure_problem(root: Any) -> str | None:
    """A `$ref` that leaves the schema or points to nowhere, a loop of references,
    a pattern whose counted repeats compile too large, or `unevaluatedProperties`
    beside `patternProperties` (jsonschema searches those patterns itself there,
    beyond any time limit).

    Walks the schema's subschemas as its dialect defines them (`subresources`),
    each with the base URI its `$id`s give it (`in_subresource`). A chain of
    references is followed once: a link known to end is not followed again.
    """
    from referencing import Registry
    from referencing.exceptions import Unresolvable

    resolver = Registry().with_resource(_ROOT_URI, root).crawl().resolver(base_uri=_ROOT_URI)
    keywords: set[str] = set()
    ends: set[int] = set()  # subschemas whose chain of references is known to end
    lookups = 0
    stack = [(root, resolver.in_subresource(root))]
    while stack:
        resource, here = stack.pop()
        contents = resource.contents
        if isinstance(contents, Mapping):
            keywords.update(contents)
            problem = _patterns_problem(contents)
            if problem is not None:
                return problem
            ref = contents.get("$ref")
            if isinstance(ref, str):
                chain: set[int] = set()
                target, via = ref, here
                while True:
                    lookups += 1
                    if lookups > _MAX_LOOKUPS:
                        return f"the schema has more than {_MAX_LOOKUPS} references to follow"
                    try:
                        resolved = via.lookup(target)
                    except Unresolvable:
                        return (
                            f"$ref {ref!r} resolves to nothing inside this schema "
                            "(references are resolved within the schema only; nothing is fetched)"
                        )
                    following = resolved.contents
                    nxt = following.get("$ref") if isinstance(following, Mapping) else None
                    if not isinstance(nxt, str) or id(following) in ends:
                        break
                    if id(following) in chain:
                        return f"$ref {ref!r} starts a loop of references"
                    chain.add(id(following))
                    target, via = nxt, resolved.resolver
                ends |= chain
        stack.extend((sub, here.in_subresource(sub)) for sub in resource.subresources())
    if "unevaluatedProperties" in keywords and "patternProperties" in keywords:
        return (
            "unevaluatedProperties beside patternProperties is not supported here "
            "(its pattern searches cannot be time-bounded); use additionalProperties"
        )
    return None


def _patterns_problem(subschema: Mapping[str, Any]) -> str | None:
    patterns = subschema.get("patternProperties")
    found = [*patterns] if isinstance(patterns, Mapping) else []
    if isinstance(subschema.get("pattern"), str):
        found.append(subschema["pattern"])
    for pattern in found:
        if _unrolled_size(pattern) > _MAX_UNROLLED:
            return (
                f"pattern {pattern[:60]!r} repeats too much: its counted repeats, multiplied "
                f"through their nesting, pass {_MAX_UNROLLED}"
            )
    return None


def _unrolled_size(pattern: str) -> int:
    """About how many items the `regex` package writes out compiling `pattern`: it
    unrolls each counted repeat's minimum (`a{100000}`: 27 MB), so nested ones multiply.
    Read with `re`'s own parser (the metaschema check already compiled it with `re`)."""
    from re import _constants as sre  # type: ignore[attr-defined]
    from re import _parser  # type: ignore[attr-defined]

    repeats = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}

    def size(items: Any) -> int:
        total = 0
        for op, value in items:
            if op in repeats:
                low, _, item = value
                total += max(low, 1) * size(item)
            elif op is sre.SUBPATTERN:
                total += size(value[3])
            elif op is sre.BRANCH:
                total += sum(size(branch) for branch in value[1])
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                total += size(value[1])
            elif op is sre.ATOMIC_GROUP:
                total += size(value)
            elif op is sre.GROUPREF_EXISTS:
                total += size(value[1]) + (size(value[2]) if value[2] else 0)
            else:
                total += 1
        return total

    try:
        return size(_parser.parse(pattern))
    except Exception:  # `re` refuses it: the metaschema check names that
        return 0


class _CannotApply(Exception):
    """The schema itself fails while checking an instance; the message says how."""


def _violations(validator: Any, instance: Any, *, dry_run: bool = False) -> list[str]:
    """`dry_run`: the instance is null, so only a schema that expands without end (a
    loop of in-place references, or one that doubles per link) can be slow or recurse;
    which of the two limits it meets first depends on the machine's load."""
    import regex
    from referencing.exceptions import Unresolvable

    token = _deadline.set(_now() + VALIDATION_BUDGET_S)
    try:
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    except _TooSlow:
        reason = f"checking the output took over {VALIDATION_BUDGET_S:g} s"
        if dry_run:
            reason = (
                "its references nest too deeply or loop without end "
                f"(a check of null took over {VALIDATION_BUDGET_S:g} s)"
            )
    except Unresolvable as exc:
        reason = f"a $ref resolves to nothing ({exc})"
    except RecursionError:
        reason = "its references nest too deeply or loop without end"
    except (re.error, regex.error) as exc:
        reason = f"a pattern is not a valid regex ({exc})"
    except Exception as exc:  # the library's own failure on a schema it let through
        reason = f"{type(exc).__name__}: {exc}"
    else:
        return [f"schema: {_where(e.path)}: {e.message}"[:200] for e in errors[:_MAX_REASONS]]
    finally:
        _deadline.reset(token)
    raise _CannotApply(reason[:160])


def _where(path: Any) -> str:
    return "/".join(str(part) for part in path) or "(root)"


# -- keywords under the deadline ---------------------------------------------------

Keyword = Callable[[Any, Any, Any, Any], Iterator[Any]]
_BOUNDED: dict[Any, Any] = {}


class _TooSlow(Exception):
    """The output's check passed its deadline."""


def _bounded_class(schema: Mapping[str, Any]) -> Any:
    """The dialect's validator class with every keyword checking the deadline first,
    and the pattern keywords searching with a timeout."""
    from jsonschema import Draft202012Validator, validators

    dialect = validators.validator_for(schema, default=Draft202012Validator)
    bounded = _BOUNDED.get(dialect)
    if bounded is None:
        keywords = {name: _on_time(keyword) for name, keyword in dialect.VALIDATORS.items()}
        keywords.update(
            pattern=_on_time(_pattern),
            patternProperties=_on_time(_pattern_properties),
            additionalProperties=_on_time(_additional_properties),
            uniqueItems=_on_time(_unique_items),
        )
        bounded = _BOUNDED[dialect] = validators.extend(dialect, keywords)  # type: ignore[no-untyped-call]
    return bounded


def _on_time(keyword: Keyword) -> Keyword:
    def checked(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if _now() > _deadline.get():
            raise _TooSlow
        return keyword(validator, value, instance, schema) or iter(())

    return checked


_regexes: dict[str, Any] = {}


def _search(pattern: str, text: str) -> bool:
    """`regex` search under the deadline. Compiled patterns are kept here, a few, and
    not in the `regex` package's own cache of 500 (each can hold megabytes)."""
    import regex

    compiled = _regexes.get(pattern)
    if compiled is None:
        if len(_regexes) >= _CACHE_SIZE:
            _regexes.clear()
        compiled = _regexes[pattern] = regex.compile(pattern, cache_pattern=False)
    remaining = _deadline.get() - _now()
    if remaining <= 0:
        raise _TooSlow
    try:
        return compiled.search(text, timeout=remaining) is not None
    except TimeoutError:
        raise _TooSlow from None


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """In one pass: jsonschema compares every pair (4,000 items: 14 s on the loop).
    Items are keyed by their canonical JSON, integral floats as integers (1 == 1.0,
    as JSON Schema has it, while true != 1)."""
    from jsonschema import ValidationError

    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[bytes] = set()
    for item in instance:
        canonical = _canonical(item)
        try:
            key = orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # nested past orjson's 255 levels
            key = json.dumps(canonical, sort_keys=True).encode()
        if key in seen:
            yield ValidationError(f"{instance!r} has non-unique elements"[:200])
            return
        seen.add(key)


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    return value


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
