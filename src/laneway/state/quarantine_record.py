"""Credential quarantine as pure transitions over one stored record.

The reference semantics: the memory backend calls `apply`; `lua/quarantine.lua`
mirrors it so Redis runs each step atomically; the conformance suite holds both
to the same behaviour. One record per credential profile per provider.

    (none) --bar--> quarantined since `now`
    quarantined --check before since + cooldown_s--> refused
    quarantined --check after the cooldown--> the one probe (probe_at = now)
    probing --check while the probe is out (< cooldown_s)--> refused
    any --clear--> (none): the credential worked
    probing --release--> quarantined, probe slot free: the probe gave no verdict

A probe that never reports frees its slot after another `cooldown_s`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

QuarantineOp = Literal["check", "bar", "clear", "release"]
#: what a `check` says: call with it, call with it as the one probe, or skip it
QuarantineVerdict = Literal["clear", "probe", "quarantined"]


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    since: float
    probe_at: float | None = None


def apply(
    record: QuarantineRecord | None, op: QuarantineOp, now: float, cooldown_s: float
) -> tuple[QuarantineRecord | None, QuarantineVerdict]:
    """One step: the new record (None: not quarantined) and the verdict."""
    if op == "bar":
        return QuarantineRecord(since=now), "quarantined"
    if op == "clear" or record is None:
        return None, "clear"
    if op == "release":
        return QuarantineRecord(record.since), "quarantined"
    if now < record.since + cooldown_s:
        return record, "quarantined"
    if record.probe_at is None or now - record.probe_at >= cooldown_s:
        return QuarantineRecord(record.since, probe_at=now), "probe"
    return record, "quarantined"
