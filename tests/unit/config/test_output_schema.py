"""A client's JSON Schema is untrusted input: checked up front, applied offline, never raising.

jsonschema's own behaviour that these guard against (jsonschema 4.18+ docs,
"Resolving References to Schemas"): without a `registry`, a remote `$ref` is
retrieved with `urllib.request.urlopen` (deprecated, still on); `{"$ref": "#"}`
recurses forever; a pointer to nowhere raises `referencing.exceptions.Unresolvable`.
"""

from __future__ import annotations

from typing import Any

import pytest

from laneway.config.output_schema import (
    REQUEST_SCHEMA_MAX_BYTES,
    VALIDATION_BUDGET_S,
    schema_problem,
    schema_violations,
)

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
        ({"properties": {"a": {"$ref": "#/$defs/x"}}}, "$ref '#/$defs/x' resolves to nothing"),
        ({"properties": {"a": {"$id": "urn:inner", "$ref": "#/$defs/x"}}}, "resolves to nothing"),
        ({"properties": {"$id": {}, "const": {"$ref": "#/nowhere"}}}, "resolves to nothing"),
        (
            {"unevaluatedProperties": False, "patternProperties": {"^(a|aa)+$": {}}},
            "unevaluatedProperties beside patternProperties is not supported",
        ),
        ({"$schema": "https://example.com/my-dialect"}, "no JSON Schema dialect laneway knows"),
        (
            {
                "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
                "properties": {"x": {"$ref": "#/$defs/a"}},
            },
            "starts a loop of references",
        ),
        ({"$ref": "#"}, "starts a loop of references"),
        ({"allOf": [{"$ref": "#"}]}, "loop without end"),
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


def test_a_schema_that_cannot_be_applied_says_so_as_a_reason() -> None:
    """A library caller may skip `schema_problem`: applying still cannot raise."""
    schema = {"properties": {"a": {"$ref": "#/properties/a"}}}
    assert schema_violations(schema, {"a": 1}) == [
        "the schema cannot be applied: $ref '#/properties/a' starts a loop of references"
    ]


def test_a_draft_4_id_moves_the_base_of_a_relative_reference() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "properties": {
            "a": {
                "id": "http://example.com/a/",
                "definitions": {"b": {"type": "string"}},
                "properties": {"c": {"$ref": "#/definitions/b"}},
            }
        },
    }
    assert schema_problem(schema) is None
    assert schema_violations(schema, {"a": {"c": 1}}) == ["schema: a/c: 1 is not of type 'string'"]


def test_a_schema_whose_work_doubles_at_each_reference_is_stopped() -> None:
    """No loop, but each link applies the next twice: 2**40 steps, cut by the deadline.
    The dry run on null does not reach it (`properties`), the output does."""
    links = {f"a{i}": {"allOf": [{"$ref": f"#/$defs/a{i + 1}"}] * 2} for i in range(40)}
    links["a40"] = {"type": "string"}
    schema = {"$defs": links, "properties": {"x": {"$ref": "#/$defs/a0"}}}
    assert schema_problem(schema) is None
    assert schema_violations(schema, {"x": "y"}) == [
        f"the schema cannot be applied: checking the output took over {VALIDATION_BUDGET_S:g} s"
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
    """`^(a|aa)+$` on 60 a's and a "!" backtracks for minutes; the deadline ends it."""
    reasons = schema_violations({"type": "string", "pattern": "^(a|aa)+$"}, "a" * 60 + "!")
    assert reasons == [
        f"the schema cannot be applied: checking the output took over {VALIDATION_BUDGET_S:g} s"
    ]


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


def test_a_request_schema_is_bounded_in_size_a_lanes_is_not() -> None:
    """Compiling costs the loop about 3 ms per KB: a request's schema stops at the limit."""
    properties = {f"p{i}": {"type": "string"} for i in range(3000)}
    schema = {"type": "object", "properties": properties}
    problem = schema_problem(schema, max_bytes=REQUEST_SCHEMA_MAX_BYTES)
    assert problem is not None
    assert f"over laneway's limit of {REQUEST_SCHEMA_MAX_BYTES}" in problem
    assert schema_problem(schema) is None


def test_a_schema_nested_past_the_json_encoders_depth_is_a_problem() -> None:
    schema: dict[str, Any] = {}
    for _ in range(300):
        schema = {"items": schema}
    problem = schema_problem(schema, max_bytes=REQUEST_SCHEMA_MAX_BYTES)
    assert problem == "the schema is nested too deeply"


@pytest.mark.parametrize("pattern", ["a{1000000}", "(?:(?:a{100}){100}){1000}", "(a{50}|b){100}"])
def test_a_pattern_that_unrolls_into_megabytes_is_refused_before_compiling(pattern: str) -> None:
    """The regex package writes a counted repeat's minimum out when compiling: `a{10000000}`
    took 2.6 GB; nothing may compile it."""
    problem = schema_problem({"type": "string", "pattern": pattern})
    assert problem is not None
    assert "repeats too much" in problem
    assert schema_problem({"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$|^.{0,5000}$"}) is None


def test_a_long_chain_of_references_is_followed_once_and_bounded() -> None:
    """Each link followed to the chain's end was quadratic (2,250 links: 18 s on the loop)."""
    chain = {f"a{i}": {"$ref": f"#/$defs/a{i + 1}"} for i in range(2_000)}
    chain["a2000"] = {"type": "integer"}
    assert schema_problem({"$defs": chain}) is None
    longer = {f"a{i}": {"$ref": f"#/$defs/a{i + 1}"} for i in range(12_000)}
    longer["a12000"] = {"type": "integer"}
    assert (
        schema_problem({"$defs": longer}) == "the schema has more than 10000 references to follow"
    )


def test_unique_items_keeps_json_schemas_equality_in_one_pass() -> None:
    unique = {"type": "array", "uniqueItems": True}
    assert schema_violations(unique, [1, 1.0]) != []
    assert schema_violations(unique, [{"a": 1, "b": [2.0]}, {"b": [2], "a": 1}]) != []
    assert schema_violations(unique, [True, 1, "1", None, 0, False]) == []
    assert schema_violations(unique, [{"a": n} for n in range(4_000)]) == []
