"""Numbers the benchmark reports: latency percentiles, and a process's CPU and memory from /proc."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
KIB: Final = 1024


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Latency:
    """Milliseconds; `count` samples."""

    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency | None:
        if not seconds:
            return None
        ordered = sorted(seconds)
        return cls(
            count=len(ordered),
            p50_ms=round(percentile(ordered, 0.50) * 1000, 3),
            p99_ms=round(percentile(ordered, 0.99) * 1000, 3),
            max_ms=round(ordered[-1] * 1000, 3),
        )


@dataclass(frozen=True, slots=True)
class ProcSample:
    """One reading of a process: CPU seconds used so far (all threads), resident memory."""

    at: float
    """time.monotonic() of the reading"""
    cpu_s: float
    rss_bytes: int

    @classmethod
    def read(cls, pid: int) -> ProcSample:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # after the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc)
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        rss = 0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * KIB
                break
        return cls(time.monotonic(), cpu, rss)


def cpu_percent(first: ProcSample, last: ProcSample) -> float:
    """CPU used between two readings, in % of one core."""
    wall = last.at - first.at
    return round(100 * (last.cpu_s - first.cpu_s) / wall, 1) if wall > 0 else 0.0


def run_queue_wait_s(pid: int) -> float:
    """Seconds the threads of `pid` have waited on a run queue, ready to run (schedstat's second
    field, in ns; threads that ended are not counted)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def mib(size: int) -> float:
    return round(size / 2**20, 1)


def machine_busy_s() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(value) for value in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class Load:
    """Who used the CPU during a measurement, in % of one core (all cores: up to cores x 100)."""

    seconds: float
    """wall-clock time measured"""
    machine: float
    hub: float
    broker: float
    bench: float
    """this process and its load generators"""
    others: float
    """everything else on the machine: what makes a shared machine's figures noisy"""
    hub_waiting: float = 0.0
    """how long the hub's threads were ready to run but waited for a core (the kernel's run
    queue, /proc/PID/task/*/schedstat): on a busy machine, the share of the hub's latency that
    is other processes' doing, not the hub's"""


class LoadMeter:
    """CPU use of the machine, the hub, the broker and the benchmark between `start` and `stop`.

    `extra_cpu_s` lets the caller add the CPU seconds of its worker processes (which report their
    own usage)."""

    def __init__(self, hub_pid: int, broker_pid: int) -> None:
        self._pids = (hub_pid, broker_pid, os.getpid())
        self._first: tuple[float, float, list[ProcSample]] | None = None
        self._hub_waited = 0.0

    def start(self) -> LoadMeter:
        self._first = (time.monotonic(), machine_busy_s(), [ProcSample.read(p) for p in self._pids])
        self._hub_waited = run_queue_wait_s(self._pids[0])
        return self

    def stop(self, extra_cpu_s: float = 0.0) -> Load:
        if self._first is None:
            raise RuntimeError("LoadMeter.stop before start")
        began, busy, first = self._first
        wall = time.monotonic() - began
        last = [ProcSample.read(p) for p in self._pids]
        used = [b.cpu_s - a.cpu_s for a, b in zip(first, last, strict=True)]
        used[2] += extra_cpu_s
        machine = machine_busy_s() - busy

        def percent(seconds: float) -> float:
            return round(100 * seconds / wall, 1) if wall > 0 else 0.0

        return Load(
            seconds=round(wall, 3),
            machine=percent(machine),
            hub=percent(used[0]),
            broker=percent(used[1]),
            bench=percent(used[2]),
            others=percent(max(0.0, machine - sum(used))),
            hub_waiting=percent(run_queue_wait_s(self._pids[0]) - self._hub_waited),
        )
