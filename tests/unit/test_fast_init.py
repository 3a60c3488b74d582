"""`faster_init`: the same construction semantics as the dataclass-written `__init__`."""

from __future__ import annotations

import dataclasses

import pytest

from laneway._fast_init import faster_init
from laneway.types import Completion, CompletionRequest, Message, TaskContext, Usage


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    required: int
    with_default: str = "d"
    with_factory: list[int] = dataclasses.field(default_factory=list)
    not_in_init: int = dataclasses.field(default=-1, init=False)
    factory_not_in_init: dict[str, int] = dataclasses.field(default_factory=dict, init=False)


faster_init(Sample)


def test_defaults_factories_and_init_false_fields_are_as_dataclass_sets_them() -> None:
    first, second = Sample(1), Sample(2, "x", [3])
    assert (first.required, first.with_default, first.with_factory) == (1, "d", [])
    assert (first.not_in_init, first.factory_not_in_init) == (-1, {})
    assert (second.with_default, second.with_factory) == ("x", [3])
    assert first.with_factory is not Sample(1).with_factory  # a fresh value per call
    assert Sample(1, with_factory=[]) == Sample(1)
    with pytest.raises(TypeError):
        Sample()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Sample(1, unknown=2)  # type: ignore[call-arg]


def test_the_value_stays_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Sample(1).required = 2  # type: ignore[misc]


def test_the_public_types_keep_their_values_and_equality() -> None:
    completion = Completion("hi", "openai", "gpt-4o", usage=Usage(3, 4, 0.5))
    assert completion == Completion(
        content="hi", provider="openai", model="gpt-4o", usage=Usage(3, 4, 0.5)
    )
    assert Completion("a", "p", "m").usage == Usage()
    request = CompletionRequest(messages=(Message("user", "x"),))
    assert request.estimated_input_tokens() == 2  # (1 + 8 characters) // 4
    assert TaskContext(lane="coding").with_request_id("r1").request_id == "r1"
    assert hash(Usage(1, 2)) == hash(Usage(1, 2))


def test_a_class_it_cannot_handle_is_refused() -> None:
    @dataclasses.dataclass(slots=True)
    class NotFrozen:
        x: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class KeywordOnly:
        x: int = dataclasses.field(kw_only=True)

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int

    for cls in (NotFrozen, KeywordOnly, NoSlots):
        with pytest.raises(TypeError):
            faster_init(cls)
