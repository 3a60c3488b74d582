"""A client's JSON Schema is untrusted input: checked up front, applied offline, never raising.

jsonschema's own behaviour that these guard against (jsonschema 4.18+ docs,
"Resolving References to Schemas"): without a `registry`, a remote `$ref` is
retrieved with `urllib.request.urlopen` (deprecated, still on); `{"$ref": "#"}`
recurses forever; a pointer to nowhere raises `referencing.exceptions.Unresolvable`.
"""

from __future__ import annotations

from typing import Any

import pytest

from laneway.config.output_schema import schema_problem, schema_violations

GOOD = {
    "type": "object",
    "properties": {"name": {"$ref": "#/$defs/name"}, "tags": {"type": "array"}},
    "required": ["name"],
    "$defs": {"name": {"type": "string", "pattern": "^[a-z]+$"}},
}


def test_a_usable_schema_with_local_references_passes() -> None:
    assert schema_problem(GOOD) is None
    assert schema_violations(GOOD, {"name": "ada"}) == []
    assert schema_violations(GOOD, {"name": "Ada"}) == [
        "schema: name: 'Ada' does not match '^[a-z]+$'"
    ]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "nonsense"}, "type: 'nonsense' is not valid"),
        ({"properties": {"a": {"pattern": "("}}}, "properties/a/pattern: '(' is not a 'regex'"),
        ({"patternProperties": {"(": {}}}, "is not a 'regex'"),
        ({"$ref": "#/$defs/missing"}, "$ref '#/$defs/missing' resolves to nothing"),
        ({"properties": {"a": {"$ref": "#/$defs/x"}}}, "properties/a: $ref '#/$defs/x'"),
        (
            {
                "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
                "properties": {"x": {"$ref": "#/$defs/a"}},
            },
            "starts a loop of references",
        ),
        ({"$ref": "#"}, "starts a loop of references"),
        ({"allOf": [{"$ref": "#"}]}, "its references loop without end"),
    ],
)
def test_an_unusable_schema_is_named_before_any_output(
    schema: dict[str, Any], expected: str
) -> None:
    problem = schema_problem(schema)
    assert problem is not None
    assert expected in problem


def test_a_remote_reference_is_refused_and_never_fetched(
    counting_server: tuple[str, list[str]],
) -> None:
    url, asked = counting_server
    schema = {"properties": {"a": {"$ref": f"{url}/s.json"}}}
    problem = schema_problem(schema)
    assert problem is not None
    assert "resolves to nothing inside this schema" in problem
    reasons = schema_violations(schema, {"a": 1})
    assert len(reasons) == 1
    assert reasons[0].startswith("the schema cannot be applied")
    assert asked == []


def test_applying_a_schema_that_breaks_mid_way_gives_a_reason_not_an_exception() -> None:
    """Nested `$id`s skip the up-front reference check; applying still cannot raise."""
    schema = {"properties": {"a": {"$id": "urn:inner", "$ref": "#/$defs/nowhere"}}}
    assert schema_problem(schema) is None  # reached only when `a` is present
    reasons = schema_violations(schema, {"a": 1})
    assert reasons
    assert reasons[0].startswith("the schema cannot be applied: a $ref")


def test_a_self_referencing_property_fails_when_reached_without_raising() -> None:
    schema = {"properties": {"a": {"$ref": "#/properties/a"}}}
    assert schema_problem(schema) is not None  # a loop of references, found statically
    assert schema_violations(schema, {"a": 1}) == [
        "the schema cannot be applied: its references loop without end"
    ]


@pytest.mark.parametrize(
    "schema",
    [
        {"$schema": 1},
        {"$schema": {}},
        {"$schema": "http://json-schema.org/draft-03/schema#", "extends": {"$ref": "#"}},
    ],
)
def test_a_schema_the_libraries_choke_on_is_a_problem_not_an_exception(
    schema: dict[str, Any],
) -> None:
    assert schema_problem(schema) is not None


def test_a_backtracking_pattern_is_cut_off_and_named() -> None:
    """`^(a|aa)+$` on 60 a's and a "!" backtracks for minutes; the budget ends it."""
    reasons = schema_violations({"type": "string", "pattern": "^(a|aa)+$"}, "a" * 60 + "!")
    assert reasons == ["the schema's patterns took over 0.1 s on this output (pattern '^(a|aa)+$')"]


def test_pattern_keywords_keep_their_meaning() -> None:
    schema = {
        "type": "object",
        "properties": {"id": {"type": "integer"}},
        "patternProperties": {"^x-": {"type": "string", "pattern": "^[a-z]+$"}},
        "additionalProperties": False,
    }
    assert schema_violations(schema, {"id": 1, "x-tag": "ok"}) == []
    assert schema_violations(schema, {"id": 1, "x-tag": "OK", "y": 1, "z": 2}) == [
        "schema: (root): Additional properties are not allowed ('y', 'z' were unexpected)",
        "schema: x-tag: 'OK' does not match '^[a-z]+$'",
    ]
    extra = {**schema, "additionalProperties": {"type": "boolean"}}
    assert schema_violations(extra, {"flag": True}) == []
    assert schema_violations(extra, {"flag": 3}) == ["schema: flag: 3 is not of type 'boolean'"]
