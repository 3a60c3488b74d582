"""Everything one server process holds, built once by `create_app`.

Handlers receive this object rather than reaching for globals, so tests can
build as many servers in one process as they like.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from laneway.clock import Clock
from laneway.config.schema import ServerSpec
from laneway.engine.tasks import TaskSupervisor
from laneway.server.auth import KeyRing
from laneway.server.context import LaneResolver
from laneway.server.limits import ConcurrencySlots, KeySpend, RateLimits
from laneway.server.metrics import HttpMetrics

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


@dataclass
class ServerState:
    gateway: Gateway
    config: Config
    clock: Clock
    keys: KeyRing
    lanes: LaneResolver
    limits: RateLimits
    slots: ConcurrencySlots
    spend: KeySpend
    kill_switch: KillSwitch
    metrics: HttpMetrics
    telemetry_render: Callable[[], bytes] | None = None
    supervisor: TaskSupervisor = field(default_factory=TaskSupervisor)
    body_timeout_s: float = BODY_TIMEOUT_S
    ready: bool = False

    @property
    def spec(self) -> ServerSpec:
        return self.config.spec.server

    @staticmethod
    def new_request_id() -> str:
        return uuid.uuid4().hex

    def created(self) -> int:
        """`created` of an OpenAI object: wall-clock seconds."""
        return int(self.clock.wall())
