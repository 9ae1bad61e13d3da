"""The highest press rate the hub sustains durably with nothing lost, found by stepping the rate up.

Each step sends `rate` presses a second for `seconds`, split over worker processes (one
`WirePublisher` connection each), from a pool of buttons (a province: the first press of each
raises an alarm, later ones are repeat presses on it or join their site's alarm). Every press has
a new event id.

Durable means committed by the hub: the benchmark reads the store file itself (read-only, WAL
readers never block the writer) every few milliseconds. A step is **sustained** when

- the broker acknowledged every press (PUBACK with success) and the generators kept to the rate,
- every acknowledged press is in the store exactly once (0 lost), and
- the hub finished committing within `max(1 s, 10 % of the step)` of the last press sent, so its
  backlog did not grow without bound.

The durable rate of a step is its presses divided by the time from the first send to the last
commit. Stepping stops at the first step that is not sustained.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from devices.topics import Topics
from simulator.bench.hub import HubUnderTest, read_store
from simulator.bench.latency import press_payload
from simulator.bench.stats import Load, LoadMeter, mib
from simulator.bench.wire import WirePublisher

TICK_S: Final = 0.002
START_DELAY_S: Final = 1.0
"""Time for the workers to connect before the step's first press is due."""
POLL_S: Final = 0.01
QUIET_LIMIT_S: Final = 15.0
"""Stop waiting for commits after this long without progress."""
KEEP_UP: Final = 0.95
"""A step is sustained when generators and hub both reach this share of the offered rate."""
SUSTAINED: Final = "sustained"
FELL_BEHIND: Final = "the hub fell behind"
SATURATED_BATCH: Final = 50
"""A hub that cannot keep up has presses waiting for it: its commit batches grow (towards the
broker's in-flight window, mqtt.receive_maximum). Smaller batches while behind mean it was waiting
for the broker to deliver."""


def pool_button(prefix: str, index: int) -> str:
    return f"{prefix}-{index:05d}"


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    host: str
    port: int
    root: str
    worker: int
    workers: int
    tag: str
    """prefix of this step's event ids"""
    rate: float
    """presses a second, all workers together"""
    seconds: float
    start_at: float
    """time.monotonic() of the first press (the clock is system-wide)"""
    pool_prefix: str
    pool_size: int

    @property
    def total(self) -> int:
        return int(self.rate * self.seconds)


@dataclass(frozen=True, slots=True)
class WorkerResult:
    sent: int
    acked: int
    refused: int
    last_sent_at: float
    window_wait_s: float
    cpu_s: float


def warm_up_worker(seconds: float) -> None:
    """Occupies a worker for a moment, so that the pool starts all its processes up front."""
    time.sleep(seconds)


def run_worker(plan: WorkerPlan) -> WorkerResult:
    """In a worker process: this worker's share of the step (every `workers`-th press)."""
    topics = Topics(plan.root)
    publisher = WirePublisher(plan.host, plan.port, f"bench-load-{plan.tag}-{plan.worker}")
    publisher.connect()
    began = resource.getrusage(resource.RUSAGE_SELF)
    mine = range(plan.worker, plan.total, plan.workers)
    sent = 0
    last_sent_at = plan.start_at
    time.sleep(max(0.0, plan.start_at - time.monotonic()))
    try:
        while sent < len(mine):
            now = time.monotonic()
            due = min(len(mine), int((now - plan.start_at) * plan.rate / plan.workers) + 1)
            for number in mine[sent:due]:
                button = pool_button(plan.pool_prefix, number % plan.pool_size)
                event_id = f"{plan.tag}-{number}"
                publisher.publish(topics.event(button), press_payload(event_id, number), tag=number)
            if due > sent:
                sent, last_sent_at = due, now
                publisher.flush()
            publisher.poll(0)
            time.sleep(TICK_S)
        publisher.drain(60)
    finally:
        publisher.close()
    ended = resource.getrusage(resource.RUSAGE_SELF)
    return WorkerResult(
        sent=sent,
        acked=len(publisher.acked),
        refused=len(publisher.refused),
        last_sent_at=last_sent_at,
        window_wait_s=publisher.window_wait_s,
        cpu_s=ended.ru_utime + ended.ru_stime - began.ru_utime - began.ru_stime,
    )


@dataclass(frozen=True, slots=True)
class Step:
    rate: int
    """offered: presses a second asked of the generators"""
    sent_rate: float
    """what the generators achieved"""
    durable_rate: float
    """presses committed a second, first send to last commit"""
    presses: int
    acknowledged_by_broker: int
    stored: int
    lost: int
    commit_lag_s: float | None
    """last commit after the last send; None if the hub stopped committing"""
    load: Load
    hub_cpu_us_per_press: float
    """the hub's CPU time over the step divided by the presses it stored: its cost per press"""
    hub_rss_mib: float
    """the hub's resident memory at the end of the step"""
    mean_batch: float | None
    """messages per commit, from the hub's own metrics"""
    mean_arrival_to_commit_ms: float | None
    """from the hub's own metrics"""
    broker_window_wait_s: float
    """time the generators waited for the broker's PUBACKs (its in-flight window was full)"""
    sustained: bool
    verdict: str


@dataclass(frozen=True, slots=True)
class Throughput:
    steps: list[Step]
    best_sustained_rate: float | None
    """the durable rate of the highest sustained step"""
    saturated_rate: float | None
    """the durable rate of the last step when the hub, not the broker or the generators, fell
    behind: what it commits flat out"""
    lost: int
    doubled: int
    """presses counted twice in their alarms (sum of press counts minus stored presses)"""
    stopped_by: str


@dataclass(frozen=True, slots=True)
class Setup:
    host: str
    port: int
    root: str
    hub: HubUnderTest
    broker_pid: int
    seconds: float
    workers: int
    pool_prefix: str
    pool_size: int


class _Committed:
    """Counts the presses committed since it was made, from the store file."""

    def __init__(self, store: Path | str) -> None:
        self._conn = read_store(store)
        self._base = self._max_id()

    def _max_id(self) -> int:
        return int(self._conn.execute("SELECT coalesce(max(id), 0) FROM presses").fetchone()[0])

    def count(self) -> int:
        return self._max_id() - self._base

    def stored(self, tag: str) -> int:
        row = self._conn.execute(
            "SELECT count(*) FROM presses WHERE event_id LIKE ?", (f"{tag}-%",)
        ).fetchone()
        return int(row[0])

    def close(self) -> None:
        self._conn.close()


def _wait_commits(committed: _Committed, target: Callable[[], int | None]) -> float | None:
    """Poll until `target()` (None while unknown) presses are committed; return when, or None
    if progress stopped for `QUIET_LIMIT_S`."""
    last_count, last_change = -1, time.monotonic()
    while True:
        count = committed.count()
        now = time.monotonic()
        wanted = target()
        if wanted is not None and count >= wanted:
            return now
        if count != last_count:
            last_count, last_change = count, now
        elif now - last_change > QUIET_LIMIT_S:
            return None
        time.sleep(POLL_S)


def _mean(before: dict[str, float], after: dict[str, float], name: str) -> float | None:
    count = after.get(f"{name}_count", 0.0) - before.get(f"{name}_count", 0.0)
    if count <= 0:
        return None
    return (after.get(f"{name}_sum", 0.0) - before.get(f"{name}_sum", 0.0)) / count


def run_step(executor: ProcessPoolExecutor, setup: Setup, number: int, rate: int) -> Step:
    tag = f"s{number:02d}"
    committed = _Committed(setup.hub.store)
    start_at = time.monotonic() + START_DELAY_S
    plans = [
        WorkerPlan(
            setup.host,
            setup.port,
            setup.root,
            worker,
            setup.workers,
            tag,
            rate,
            setup.seconds,
            start_at,
            setup.pool_prefix,
            setup.pool_size,
        )
        for worker in range(setup.workers)
    ]
    futures: list[Future[WorkerResult]] = [executor.submit(run_worker, plan) for plan in plans]
    metrics_before = setup.hub.metrics()
    time.sleep(max(0.0, start_at - time.monotonic()))
    meter = LoadMeter(setup.hub.pid, setup.broker_pid).start()

    def target() -> int | None:
        if not all(f.done() for f in futures):
            return None
        return sum(f.result().acked for f in futures)

    try:
        done_at = _wait_commits(committed, target)
        results = [f.result() for f in futures]
        load = meter.stop(extra_cpu_s=sum(r.cpu_s for r in results))
        rss = setup.hub.sample().rss_bytes
        stored = committed.stored(tag)
    finally:
        committed.close()
    metrics_after = setup.hub.metrics()
    presses = plans[0].total
    acked = sum(r.acked for r in results)
    last_sent = max(r.last_sent_at for r in results)
    sent_rate = sum(r.sent for r in results) / max(1e-9, last_sent - start_at + 1 / rate)
    durable = 0.0 if done_at is None else stored / max(1e-9, done_at - start_at)
    window_wait = max(r.window_wait_s for r in results)
    ingest = _mean(metrics_before, metrics_after, "chuong_ingest_seconds")
    batch = _mean(metrics_before, metrics_after, "chuong_commit_batch_size")
    verdict = _verdict(
        rate=rate,
        seconds=setup.seconds,
        sent_rate=sent_rate,
        durable=durable,
        presses=presses,
        acked=acked,
        refused=sum(r.refused for r in results),
        lost=max(0, acked - stored),
        window_wait=window_wait,
        mean_batch=batch,
    )
    return Step(
        rate=rate,
        sent_rate=round(sent_rate, 1),
        durable_rate=round(durable, 1),
        presses=presses,
        acknowledged_by_broker=acked,
        stored=stored,
        lost=max(0, acked - stored),
        commit_lag_s=None if done_at is None else round(done_at - last_sent, 3),
        load=load,
        hub_cpu_us_per_press=round(load.hub / 100 * load.seconds / max(1, stored) * 1e6, 1),
        hub_rss_mib=mib(rss),
        mean_batch=None if batch is None else round(batch, 1),
        mean_arrival_to_commit_ms=None if ingest is None else round(ingest * 1000, 2),
        broker_window_wait_s=round(window_wait, 2),
        sustained=verdict == SUSTAINED,
        verdict=verdict,
    )


def _verdict(
    *,
    rate: int,
    seconds: float,
    sent_rate: float,
    durable: float,
    presses: int,
    acked: int,
    refused: int,
    lost: int,
    window_wait: float,
    mean_batch: float | None,
) -> str:
    """What limited the step, the first that applies: a loss, the broker taking the presses,
    the generators, the broker delivering them, the hub committing them."""
    if lost:
        return f"LOST {lost} presses"
    if refused or acked < presses:
        return f"the broker acknowledged {acked} of {presses} presses ({refused} refused)"
    if sent_rate < KEEP_UP * rate:
        if window_wait > 0.2 * seconds:
            return (
                f"the broker acknowledged only {sent_rate:.0f}/s "
                f"(publishers waited {window_wait:.1f}s on its in-flight window)"
            )
        return f"the generators reached only {sent_rate:.0f}/s"
    return _commit_verdict(rate, durable, mean_batch)


def _commit_verdict(rate: int, durable: float, mean_batch: float | None) -> str:
    if durable >= KEEP_UP * rate:
        return SUSTAINED
    if mean_batch is not None and mean_batch < SATURATED_BATCH:
        return (
            f"the broker delivered only {durable:.0f}/s to the hub "
            f"(the hub waited for presses: mean commit batch {mean_batch:.0f})"
        )
    return f"{FELL_BEHIND}: {durable:.0f}/s committed"


def _doubled(store: Path | str, pool_prefix: str) -> int:
    """Presses counted twice: alarms' press counts minus the presses stored for the pool."""
    with contextlib.closing(read_store(store)) as conn:
        pattern = f"{pool_prefix}-%"
        stored = conn.execute(
            "SELECT count(*) FROM presses WHERE button_id LIKE ?", (pattern,)
        ).fetchone()[0]
        counted = conn.execute(
            "SELECT coalesce(sum(press_count), 0) FROM alarms WHERE id IN "
            "(SELECT alarm_id FROM presses WHERE button_id LIKE ?)",
            (pattern,),
        ).fetchone()[0]
    return int(counted) - int(stored)


def measure_throughput(
    setup: Setup, rates: Sequence[int], on_step: Callable[[Step], None] | None = None
) -> Throughput:
    steps: list[Step] = []
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    with ProcessPoolExecutor(setup.workers, mp_context=context) as executor:
        list(executor.map(warm_up_worker, [0.2] * setup.workers))
        for number, rate in enumerate(rates, start=1):
            step = run_step(executor, setup, number, rate)
            steps.append(step)
            if on_step is not None:
                on_step(step)
            if not step.sustained:
                break
    sustained = [s for s in steps if s.sustained]
    last = steps[-1] if steps else None
    stopped = last is not None and not last.sustained
    return Throughput(
        steps=steps,
        best_sustained_rate=max((s.durable_rate for s in sustained), default=None),
        saturated_rate=last.durable_rate
        if last is not None and last.verdict.startswith(FELL_BEHIND)
        else None,
        lost=sum(s.lost for s in steps),
        doubled=_doubled(setup.hub.store, setup.pool_prefix),
        stopped_by=last.verdict if last is not None and stopped else "the last step",
    )
