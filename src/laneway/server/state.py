"""Everything one server process holds, built once by `create_app`.

Handlers receive this object rather than reaching for globals, so tests can
build as many servers in one process as they like.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from laneway.clock import Clock
from laneway.config.schema import ServerSpec
from laneway.engine.tasks import TaskSupervisor
from laneway.server.asgi import header_values
from laneway.server.auth import KeyRing
from laneway.server.context import LaneResolver
from laneway.server.key_limits import KeySlots, KeySpend
from laneway.server.limits import RateLimits
from laneway.server.metrics import HttpMetrics
from laneway.server.refusals import RefusalAudit

if TYPE_CHECKING:
    from laneway.config.model import Config
    from laneway.engine.gateway import Gateway

KILL_SWITCH_ENV = "LANEWAY_KILL_SWITCH"
BODY_TIMEOUT_S = 30.0


class KillSwitch:
    """On by `LANEWAY_KILL_SWITCH=1`, `server.kill_switch: true`, or `POST /admin/kill-switch`.

    Per process: with several workers, the admin endpoint flips the worker that
    answered; the environment variable and config reach them all.
    """

    def __init__(self, *, env: Mapping[str, str], spec: ServerSpec) -> None:
        flag = env.get(KILL_SWITCH_ENV, "").strip().lower()
        self.on = spec.kill_switch or flag in ("1", "true", "yes", "on")


#: request ids drawn from one `os.urandom` call
ID_BATCH = 256


def _random_ids() -> Iterator[str]:
    """Request ids, each 16 random bytes in hex, `ID_BATCH` to a system call."""
    while True:
        pool = os.urandom(16 * ID_BATCH).hex()
        for at in range(0, len(pool), 32):
            yield pool[at : at + 32]


@dataclass
class ServerState:
    gateway: Gateway
    config: Config
    clock: Clock
    keys: KeyRing
    lanes: LaneResolver
    limits: RateLimits
    slots: KeySlots
    spend: KeySpend
    kill_switch: KillSwitch
    metrics: HttpMetrics
    refusals: RefusalAudit
    telemetry_render: Callable[[], bytes] | None = None
    supervisor: TaskSupervisor = field(default_factory=TaskSupervisor)
    header_value: Callable[[str, int], bytes] = field(default_factory=header_values)
    body_timeout_s: float = BODY_TIMEOUT_S
    #: each lane's configured degraded answer (lanes without one are not in it)
    degraded: Mapping[str, str] = field(default_factory=dict)
    ready: bool = False
    _ids: Iterator[str] = field(default_factory=_random_ids)

    @property
    def spec(self) -> ServerSpec:
        return self.config.spec.server

    def new_request_id(self) -> str:
        """32 random hex digits (128 bits, as `uuid4`), from the process's pool.

        Unpredictable: one response's id says nothing about any other's, so no
        caller can aim at another request's audit row. Not a syscall per request
        (`uuid4` reads os.urandom, which releases the GIL and can then wait
        behind the audit writer's thread): one per `ID_BATCH` ids.
        """
        return next(self._ids)

    def created(self) -> int:
        """`created` of an OpenAI object: wall-clock seconds."""
        return int(self.clock.wall())
