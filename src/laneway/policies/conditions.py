"""A policy's `when:`, compiled to sets: does it apply to this request's context?

Judged once per request (the context does not change between candidates).
Every key given must hold; a list holds when the context has any of its values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from laneway.config.schema import PolicyWhenSpec
from laneway.policies.globs import TextGlobs
from laneway.types import Complexity, TaskContext


@dataclass(frozen=True, slots=True, eq=False)
class Conditions:
    lanes: frozenset[str] | None = None
    lanes_not: frozenset[str] | None = None
    phases: frozenset[str] | None = None
    complexities: frozenset[Complexity] | None = None
    tags: frozenset[str] | None = None
    keys: frozenset[str] | None = None
    jobs: TextGlobs | None = None
    metadata: tuple[tuple[str, str], ...] | None = None

    @property
    def always(self) -> bool:
        return all(getattr(self, name) is None for name in self.__slots__)

    def matches(self, ctx: TaskContext) -> bool:
        """True when every condition holds; allocates nothing."""
        if self.lanes is not None and ctx.lane not in self.lanes:
            return False
        if self.lanes_not is not None and ctx.lane in self.lanes_not:
            return False
        if self.phases is not None and ctx.phase not in self.phases:
            return False
        if self.complexities is not None and ctx.complexity not in self.complexities:
            return False
        if self.tags is not None and self.tags.isdisjoint(ctx.tags):
            return False
        if self.keys is not None and ctx.client_key not in self.keys:
            return False
        if self.jobs is not None and (ctx.job_id is None or not self.jobs.matches(ctx.job_id)):
            return False
        if self.metadata is not None:
            for key, value in self.metadata:
                if ctx.metadata.get(key) != value:
                    return False
        return True

    def why_not(self, ctx: TaskContext) -> str | None:
        """The first condition that does not hold, in words (for `route --explain`)."""
        complexity = ctx.complexity.value if ctx.complexity is not None else None
        sets: tuple[tuple[frozenset[Any] | None, bool, str], ...] = (
            (self.lanes, ctx.lane not in (self.lanes or ()), f"lane {ctx.lane!r} not in"),
            (self.lanes_not, ctx.lane in (self.lanes_not or ()), f"lane {ctx.lane!r} in"),
            (self.phases, ctx.phase not in (self.phases or ()), f"phase {ctx.phase!r} not in"),
            (
                self.complexities,
                ctx.complexity not in (self.complexities or ()),
                f"complexity {complexity!r} not in",
            ),
            (self.tags, self.tags is not None and self.tags.isdisjoint(ctx.tags), "no tag of"),
            (self.keys, ctx.client_key not in (self.keys or ()), "client key not in"),
        )
        for values, failed, words in sets:
            if values is not None and failed:
                return f"{words} [{', '.join(sorted(str(v) for v in values))}]"
        if self.jobs is not None and (ctx.job_id is None or not self.jobs.matches(ctx.job_id)):
            return f"job {ctx.job_id!r} matches none of [{', '.join(self.jobs.globs)}]"
        for key, expected in self.metadata or ():
            if ctx.metadata.get(key) != expected:
                return f"metadata {key}={ctx.metadata.get(key)!r}, not {expected!r}"
        return None


def compile_conditions(spec: PolicyWhenSpec) -> Conditions:
    return Conditions(
        lanes=_set(spec.lane),
        lanes_not=_set(spec.lane_not),
        phases=_set(spec.phase),
        complexities=frozenset(spec.complexity) if spec.complexity is not None else None,
        tags=_set(spec.tags),
        keys=_set(spec.key),
        jobs=TextGlobs(spec.job) if spec.job is not None else None,
        metadata=tuple(spec.metadata.items()) if spec.metadata is not None else None,
    )


def _set(values: Iterable[str] | None) -> frozenset[str] | None:
    return frozenset(values) if values is not None else None
