"""The attempt plan: which model, which credential profile, how long, what next.

Sans-I/O, in the manner of httpx's `Auth.auth_flow`: the plan never awaits,
calls or sleeps. The engine asks `next(now)` for a step, performs it (asks the
breaker, the credential quarantine and the budget, then calls the adapter or
sleeps), and tells the plan what happened (`refused`, `failed`, `rejected`).
`complete` and `stream` drive the same plan, so the retry table, credential
rotation, skipping a provider, looking for a larger context and the lane's
deadline are decided in one place and are testable without an event loop.

Every `Call` is one upstream request: the engine asks the breaker before each
one, retries included, so a request that finds a breaker open moves on at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from laneway.errors import ErrorCode, ProviderError, RetryRule
from laneway.resilience.backoff import BackoffPolicy
from laneway.resilience.deadline import Deadline
from laneway.resilience.retry import decide_after_failure
from laneway.types import ModelInfo, ModelRef

#: why a gate refused a call before it was made (recorded as a skip in the trace)
Refusal = Literal["circuit_open", "auth_quarantined", "over_budget"]
#: what the plan made of a failed call
After = Literal["retry", "rotate", "next_model", "skip_provider", "larger_context", "stop"]
#: codes that say this credential, not the model, is at fault: another profile may work
CREDENTIAL_CODES = frozenset({ErrorCode.RATE_LIMIT, ErrorCode.AUTH})


@dataclass(frozen=True, slots=True)
class Call:
    """Call `model` once: attempt `number` (1-based) with the provider's profile `profile`.

    `timeout_s` is the per-attempt limit, the provider's cap and the deadline's rest.
    """

    candidate: int
    model: ModelRef
    profile: int
    number: int
    timeout_s: float


@dataclass(frozen=True, slots=True)
class Skip:
    """`model` is passed over without a call, for `reason` (it goes into the trace)."""

    model: ModelRef
    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    """Sleep `delay_s` before the next call: a same-model retry's backoff."""

    delay_s: float


@dataclass(frozen=True, slots=True)
class Done:
    """No call is left: `stop` when the caller's input is at fault (the last error stands)."""

    stop: bool = False


Step = Call | Skip | Wait | Done
_DONE, _STOPPED = Done(), Done(stop=True)


class AttemptPlan:
    """One request's walk through its candidates; see the module docstring.

    `profiles(provider)` is how many credential profiles the provider has (0 or 1
    when it has one key); `attempt_cap_s(provider)` the provider's own limit.
    """

    __slots__ = (
        "_backoff",
        "_barred",
        "_candidates",
        "_cap",
        "_deadline",
        "_index",
        "_min_context",
        "_number",
        "_profile",
        "_profiles",
        "_skipped_providers",
        "_table",
        "_wait",
        "deadline_hit",
        "stopped",
    )

    def __init__(
        self,
        candidates: Sequence[ModelInfo],
        *,
        deadline: Deadline,
        table: Mapping[ErrorCode, RetryRule],
        backoff: BackoffPolicy,
        profiles: Callable[[str], int],
        attempt_cap_s: Callable[[str], float | None],
    ) -> None:
        self._candidates = candidates
        self._deadline = deadline
        self._table = table
        self._backoff = backoff
        self._profiles = profiles
        self._cap = attempt_cap_s
        self._index = -1
        self._profile = 0
        self._number = 0
        self._wait: Wait | None = None
        self._skipped_providers: dict[str, str] = {}
        self._barred: set[tuple[str, int]] = set()
        self._min_context: int | None = None
        self.deadline_hit = False
        self.stopped = False
        self._advance()

    # -- where the plan stands ------------------------------------------------------

    @property
    def current(self) -> ModelInfo | None:
        index = self._index
        return self._candidates[index] if index < len(self._candidates) else None

    def _advance(self) -> None:
        self._index += 1
        self._number = 0
        self._profile = -1  # chosen at the candidate's first call

    def _free_profile(self, provider: str, start: int) -> int | None:
        """The first profile from `start` not barred on this provider (None: all are)."""
        if start == 0 and not self._barred:
            return 0  # the common case: every provider has a first profile
        count = max(1, self._profiles(provider))
        for profile in range(start, count):
            if (provider, profile) not in self._barred:
                return profile
        return None

    # -- the steps ----------------------------------------------------------------

    def next(self, now: float) -> Step:
        """The next step; call again after performing it (and reporting its outcome)."""
        if self._wait is not None:
            wait, self._wait = self._wait, None
            return wait
        while (info := self.current) is not None:
            model = info.ref
            if self._profile < 0:
                skip = self._admit_candidate(info, now)
                if skip is not None:
                    self._advance()
                    return skip
            profile = self._free_profile(model.provider, max(0, self._profile))
            if profile is None:
                self._advance()
                return Skip(model, "auth_quarantined")
            if profile != self._profile:
                self._profile, self._number = profile, 0
            timeout_s = self._deadline.attempt_budget(now)
            cap = self._cap(model.provider)
            if cap is not None:
                timeout_s = min(timeout_s, cap)
            if timeout_s <= 0:
                self.deadline_hit = True
                self._advance()
                continue
            self._number += 1
            return Call(self._index, model, profile, self._number, timeout_s)
        return _STOPPED if self.stopped else _DONE

    def _admit_candidate(self, info: ModelInfo, now: float) -> Skip | None:
        model = info.ref
        if self._skipped_providers:
            reason = self._skipped_providers.get(model.provider)
            if reason is not None:
                return Skip(model, reason)
        minimum = self._min_context
        if minimum is not None and (info.context_window is None or info.context_window <= minimum):
            return Skip(model, "context_too_small")
        if self._deadline.expired(now):
            self.deadline_hit = True
            return Skip(model, "deadline_exhausted")
        return None

    # -- what happened ------------------------------------------------------------

    def refused(self, call: Call, reason: Refusal) -> None:
        """A gate refused `call` before it was made; the engine recorded the skip."""
        self._number -= 1
        if reason == "auth_quarantined":
            provider = call.model.provider
            self._barred.add((provider, call.profile))
            if self._free_profile(provider, call.profile + 1) is not None:
                return  # `next` tries the provider's next free profile
        self._advance()

    def rejected(self) -> None:
        """The model answered but the answer was rejected (schema, validators): next model."""
        self._advance()

    def succeeded(self) -> None:
        self._index = len(self._candidates)

    def failed(self, call: Call, error: ProviderError, now: float, *, probe: bool) -> After:
        """A call failed with `error`: decide whether to retry, rotate or move on."""
        provider = call.model.provider
        code = error.code
        if code is ErrorCode.AUTH:
            self._barred.add((provider, call.profile))
        rotate_to = self._free_profile(provider, call.profile + 1)
        if code in CREDENTIAL_CODES and rotate_to is not None:
            self._profile, self._number = rotate_to, 0  # numbering starts again
            return "rotate"
        if probe:  # the half-open probe's verdict is in: no second try on this model
            self._advance()
            return "next_model"
        decision = decide_after_failure(
            error,
            attempt=call.number,
            table=self._table,
            remaining_s=self._deadline.remaining(now),
            backoff=self._backoff,
        )
        then = decision.then
        if then is None:
            self._wait = Wait(decision.delay_s)
            return "retry"
        if then == "skip_provider":
            self._skipped_providers[provider] = code.value
        elif then == "larger_context":
            self._min_context = self._candidates[call.candidate].context_window or 0
        elif then == "stop":
            self.stopped = True
            self._index = len(self._candidates)
            return "stop"
        self._advance()
        return then
