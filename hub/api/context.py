"""What the API needs from the hub, handed to the app factory (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hub.clock import Clock
from hub.config import Config
from hub.domain.bus import Bus
from hub.domain.model import Trouble
from hub.metrics import Metrics
from hub.store import Store
from hub.writer.pipeline import Pipeline


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reasons: list[str]
    role: str = "active"
    """"active", or "standby" (another hub with this hub.id writes the store; docs/HA.md)"""


@dataclass(frozen=True, slots=True)
class ApiContext:
    config: Config
    store: Store
    pipeline: Pipeline
    bus: Bus
    metrics: Metrics
    clock: Clock
    version: str
    readiness: Callable[[], Readiness]
    system_troubles: Callable[[], list[Trouble]]
    """Troubles the hub knows of but cannot store right now (the store itself failing)."""
