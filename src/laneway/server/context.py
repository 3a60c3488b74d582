"""The `TaskContext` of one HTTP request: which lane, and who asks.

Sources, highest precedence first: `X-Laneway-*` headers (set by the caller's
infrastructure), the body's `metadata`, then the body's `model` and `user`.

    X-Laneway-Lane            metadata.lane            the lane (else `model`)
    X-Laneway-Phase           metadata.phase
    X-Laneway-Complexity      metadata.complexity      low | medium | high
    X-Laneway-Job-Id          metadata.job_id
    X-Laneway-User-Id         metadata.user_id         (else the body's `user`)
    X-Laneway-Prompt-Version  metadata.prompt_version
    X-Laneway-Tags            metadata.tags            comma-separated (`policies:` match them)

Other `metadata` keys become `TaskContext.metadata` (routing rules can match
them). None of this reaches a provider.

`model` names a lane, an explicit `provider/model`, or an alias from
`server.aliases` (exact names first, then globs in config order, e.g.
`claude-opus-*: planning`), which stands for the lane or model it names. A model that is the
primary of a lane is served by that lane (first in config order), with its
fallbacks. Any other model of a configured provider is pinned
(`TaskContext.model`: no routing, no fallback) and runs under the lane named
by `X-Laneway-Lane`, else a lane that lists it as a fallback, else the lane
`default`: that lane's budgets, timeouts, guard and key permissions apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fnmatch import fnmatchcase

from laneway.config.model import Config
from laneway.server.errors import bad_request, not_found
from laneway.types import Complexity, ModelRef, TaskContext

_FIELDS = ("lane", "phase", "complexity", "job_id", "user_id", "prompt_version", "tags")
#: the longest value of an X-Laneway-* header (metadata values: OpenAI's 512)
_FIELD_MAX = 512
#: a pinned model id a client may name: it becomes a breaker key and a metrics label
_MODEL_ID = re.compile(r"[\x21-\x7e]{1,200}")
HEADER_FIELDS: Mapping[bytes, str] = {
    f"x-laneway-{name.replace('_', '-')}".encode(): name for name in _FIELDS
}
_HEADER_NAMES = frozenset(HEADER_FIELDS)
_NO_TAGS: frozenset[str] = frozenset()


class LaneResolver:
    """Maps a request's `model` (lane name or `provider/model`) to a lane, by dict lookup."""

    def __init__(self, config: Config) -> None:
        self._lanes = frozenset(config.lanes)
        self._providers = frozenset(config.providers)
        by_primary: dict[str, str] = {}
        by_member: dict[str, str] = {}
        for name, lane in config.lanes.items():
            by_primary.setdefault(str(lane.primary), name)
            for model in lane.fallback:
                by_member.setdefault(str(model), name)
        self._by_primary = by_primary
        self._by_member = by_member
        aliases = config.spec.server.aliases
        self._exact = {name: to for name, to in aliases.items() if not _is_glob(name)}
        self._globs = tuple((name, to) for name, to in aliases.items() if _is_glob(name))

    def alias(self, model: str) -> str:
        """What `model` stands for: its alias's target, else itself (a lane wins over a glob)."""
        target = self._exact.get(model)
        if target is not None:
            return target
        if self._globs and model not in self._lanes and model not in self._by_primary:
            for pattern, to in self._globs:
                if fnmatchcase(model, pattern):
                    return to
        return model

    @property
    def explicit_models(self) -> Mapping[str, str]:
        """`provider/model` -> the lane that serves it."""
        return self._by_primary

    def resolve(self, model: str, override: str | None) -> tuple[str, ModelRef | None]:
        """(the lane, the pinned model or None)."""
        if self._exact or self._globs:
            model = self.alias(model)
        if override is not None and override not in self._lanes:
            raise not_found(_unknown_lane(override, self._lanes), param="x-laneway-lane")
        if model in self._lanes:
            return override or model, None
        lane = self._by_primary.get(model)
        if lane is not None and override in (None, lane):
            return lane, None
        if "/" not in model:
            if override is not None:  # the header names the lane; `model` is a label
                return override, None
            raise not_found(_unknown_lane(model, self._lanes), param="model")
        provider, _, name = model.partition("/")
        if provider not in self._providers or not name:
            known = ", ".join(sorted(self._providers)) or "none"
            raise not_found(
                f"model {model[:100]!r} names no configured provider (providers: {known})",
                param="model",
            )
        if not _MODEL_ID.fullmatch(name):
            raise bad_request(
                "`model` names a model id laneway does not pass on: up to 200 printable "
                "ASCII characters without spaces after 'provider/'",
                param="model",
                code="invalid_field",
            )
        lane = override or self._by_member.get(model) or lane
        if lane is None and "default" in self._lanes:
            lane = "default"
        if lane is None:
            raise not_found(
                f"model {model[:100]!r} is in no lane and there is no `default` lane; "
                "send X-Laneway-Lane to choose whose budgets and limits apply",
                param="model",
            )
        return lane, ModelRef(provider, name)


def _is_glob(name: str) -> bool:
    return any(char in name for char in "*?[")


def _unknown_lane(name: str, lanes: frozenset[str]) -> str:
    known = ", ".join(sorted(lanes)) or "none"
    return f"unknown lane or model {name[:100]!r} (lanes: {known}); GET /v1/models lists them"


def context_fields(
    headers: Mapping[bytes, bytes], metadata: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Split caller fields into named context fields and free-form metadata: the
    request's X-Laneway-* `headers` (by lower-case name) win over `metadata`."""
    named = {name: metadata[name] for name in _FIELDS if name in metadata} if metadata else {}
    for header in _HEADER_NAMES.intersection(headers):  # most requests: none
        value = headers[header].decode("latin-1").strip()
        if len(value) > _FIELD_MAX:  # it goes into every audit row and span of the request
            shown = header.decode()
            raise bad_request(
                f"`{shown}` is {len(value)} characters; at most {_FIELD_MAX}",
                param=shown,
                code="invalid_field",
            )
        named[HEADER_FIELDS[header]] = value
    if not metadata:  # the usual request: no comprehension to run (a call each)
        return named, {}
    extra = {key: value for key, value in metadata.items() if key not in _FIELDS}
    return named, extra


def build_context(
    *,
    lane: str,
    named: Mapping[str, str],
    extra: Mapping[str, str],
    user: str | None,
    request_id: str,
    budget_remaining_usd: float | None,
    model: ModelRef | None = None,
    client_key: str | None = None,
    client_request_id: str | None = None,
) -> TaskContext:
    tags, complexity = named.get("tags"), named.get("complexity")
    return TaskContext(
        lane=lane,
        phase=named.get("phase"),
        complexity=None if complexity is None else _complexity(complexity),
        job_id=named.get("job_id"),
        user_id=named.get("user_id", user),
        prompt_version=named.get("prompt_version"),
        metadata=extra,
        request_id=request_id,
        budget_remaining_usd=budget_remaining_usd,
        model=model,
        tags=parse_tags(tags) if tags else _NO_TAGS,
        client_key=client_key,
        client_request_id=client_request_id,
    )


def parse_tags(text: str) -> frozenset[str]:
    """`private, pci` -> {"private", "pci"}: comma-separated, blanks dropped."""
    return frozenset(tag for part in text.split(",") if (tag := part.strip()))


def _complexity(value: str) -> Complexity:
    try:
        return Complexity(value.strip().lower())
    except ValueError:
        raise bad_request(
            f"complexity {value!r} must be low, medium or high",
            param="metadata.complexity",
            code="invalid_field",
        ) from None
