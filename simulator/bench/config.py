"""What one benchmark run measures, and how much: the defaults are the full run of
docs/BENCHMARKS.md, `SMOKE` the tiny one of `make test`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

PHASES: Final = (
    "idle",
    "floor",
    "latency",
    "throughput",
    "io_floor",
    "supervision",
    "restart",
)
PRESS_PHASES: Final = frozenset(PHASES[:5])
ROOT: Final = "chuong/v1"
BUTTONS_PER_SITE: Final = 4
COMMUNE_PREFIX: Final = "xa"
LATENCY_PREFIX: Final = "lat"
POOL_PREFIX: Final = "pool"
SUPERVISION_PREFIX: Final = "sup"


@dataclass(frozen=True, slots=True)
class BenchConfig:
    rate: float = 100.0
    """presses a second for the latency measurements (and messages a second for the floor)"""
    latency_seconds: float = 20.0
    warmup: int = 50
    rates: tuple[int, ...] = (
        *(500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000),
        *(6000, 7000, 8000, 10_000, 12_000, 15_000),
    )
    step_seconds: float = 10.0
    workers: int = 2
    pool: int = 10_000
    """buttons of the province that the throughput steps press"""
    io_floor_rate: int = 2000
    buttons: int = 100_000
    """buttons supervised"""
    heartbeat_every: float = 60.0
    connections: int = 4
    events: int = 1_000_000
    starts: int = 3
    idle_seconds: float = 10.0
    commune_buttons: int = 30
    broker_save_every: int | None = 1000
    """measure the press path again with the broker saving every N changes (None: don't)"""
    postgresql: bool = True
    """measure the press path again (broker as shipped) with the store on PostgreSQL, on a private
    server started for the run (simulator/pgcluster.py)"""
    phases: tuple[str, ...] = PHASES
    hub_env: Mapping[str, str] = field(default_factory=dict)
    """extra CHUONG_* settings for the hub under test (to try a tuning)"""
    profile: Path | None = None
    """write py-spy flame graphs of the hub under load here"""

    @property
    def latency_presses(self) -> int:
        return max(1, int(self.rate * self.latency_seconds))


SMOKE: Final = BenchConfig(
    rate=50,
    latency_seconds=1,
    warmup=5,
    rates=(200, 400),
    step_seconds=1,
    pool=40,
    io_floor_rate=200,
    buttons=200,
    heartbeat_every=2,
    connections=2,
    events=5000,
    starts=1,
    idle_seconds=1,
    commune_buttons=8,
)
