"""The pipeline with a real store and a recording acker: heartbeats are held and committed
together, presses never wait for them, presses never share a batch with the supervisor's upkeep,
and PUBACKs leave before the fan-out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from devices.messages import EventType, Heartbeat, PressEvent
from hub.clock import SystemClock
from hub.config import SupervisionSection
from hub.domain.bus import Bus
from hub.domain.inbound import Delivery, HeartbeatIn, PressIn
from hub.domain.model import Button, Site
from hub.domain.state import Registry
from hub.errors import ChuongError
from hub.metrics import Metrics
from hub.store import Changes, Store
from hub.supervision.watcher import SUPERVISE_CHUNK, Reviewer, Supervise
from hub.writer import pipeline as pipeline_module
from hub.writer.pipeline import Pipeline
from hub.writer.plan import Command, Plan
from tests.conftest import wait_for

CLOCK = SystemClock()


class RecordingAcker:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.acked: list[Delivery] = []

    def ack(self, delivery: Delivery) -> None:
        self.acked.append(delivery)
        self.log.append(f"ack {delivery.mid}")

    def flush(self) -> None:
        self.log.append("flush")


class Harness:
    def __init__(self, store: Store, pipeline: Pipeline, acker: RecordingAcker) -> None:
        self.store = store
        self.pipeline = pipeline
        self.acker = acker
        self.metrics: Metrics = pipeline._metrics

    def commits(self) -> float:
        return self.metrics.registry.get_sample_value("chuong_commit_batch_size_count") or 0.0


StartPipeline = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_pipeline(tmp_path: Path) -> AsyncIterator[StartPipeline]:
    made: list[Harness] = []

    async def start(log: list[str] | None = None, **options: float) -> Harness:
        store = Store(tmp_path / "hub.db")
        await store.open()
        bus = Bus()
        events = log if log is not None else []
        bus.subscribe(lambda event: events.append(type(event).__name__))
        acker = RecordingAcker(events)
        pipeline = Pipeline(
            store=store,
            state=await store.load_state(),
            bus=bus,
            metrics=Metrics(),
            clock=CLOCK,
            acker=acker,
            hub_id="post",
            **options,  # type: ignore[arg-type]
        )
        await pipeline.start()
        harness = Harness(store, pipeline, acker)
        made.append(harness)
        return harness

    yield start
    for harness in made:
        await harness.pipeline.stop()
        await harness.store.close()


def beat(
    button: str, battery: int, *, seconds: float = 0, delivery: Delivery | None = None
) -> HeartbeatIn:
    at = CLOCK.now() + timedelta(seconds=seconds)
    return HeartbeatIn(button, Heartbeat(battery=battery, rssi=-60), at, delivery)


def press(button: str, event_id: str, mid: int, *, seconds: float = 0) -> PressIn:
    event = PressEvent(id=event_id, type=EventType.PRESS, battery=33)
    at = CLOCK.now() + timedelta(seconds=seconds)
    return PressIn(button, event, at, Delivery(mid, 1, 1))


async def test_heartbeats_are_held_and_committed_together_with_the_latest_of_each_button(
    start_pipeline: StartPipeline,
) -> None:
    """50 heartbeats from 5 buttons, then a stop: nothing is committed while they are held;
    the stop commits the latest of each button in one transaction."""
    harness = await start_pipeline(heartbeat_flush_s=3600)
    for n in range(50):
        harness.pipeline.submit(beat(f"b{n % 5}", battery=n))
    assert await harness.store.list_device_states() == {}
    assert harness.commits() == 0
    await harness.pipeline.stop()
    devices = await harness.store.list_device_states()
    assert {button: d.battery for button, d in devices.items()} == {
        "b0": 45,
        "b1": 46,
        "b2": 47,
        "b3": 48,
        "b4": 49,
    }
    assert harness.commits() == 1


async def test_held_heartbeats_are_committed_after_the_flush_interval(
    start_pipeline: StartPipeline,
) -> None:
    """Without a stop, the held heartbeats reach the store once the flush interval has passed."""
    harness = await start_pipeline(heartbeat_flush_s=0.05)
    harness.pipeline.submit(beat("b1", battery=80))

    async def stored() -> bool:
        return "b1" in await harness.store.list_device_states()

    await wait_for(stored)
    assert (await harness.store.list_device_states())["b1"].battery == 80


async def test_a_big_flush_goes_in_batches_of_batch_max(
    start_pipeline: StartPipeline,
) -> None:
    """25 buttons held with batch_max 10: three transactions of at most 10."""
    harness = await start_pipeline(heartbeat_flush_s=3600, batch_max=10)
    for n in range(25):
        harness.pipeline.submit(beat(f"b{n:02d}", battery=50))
    await harness.pipeline.stop()
    assert len(await harness.store.list_device_states()) == 25
    assert harness.commits() == 3


async def test_a_press_does_not_wait_for_the_flush_and_keeps_its_buttons_order(
    start_pipeline: StartPipeline,
) -> None:
    """A heartbeat (battery 90, signal -60) is held; a later press from the same button (battery
    33) is committed and acknowledged at once, with the held heartbeat just ahead of it: the
    press's newer battery wins, and the heartbeat's signal, which the press did not carry, is
    kept. Nothing is left held for that button."""
    harness = await start_pipeline(heartbeat_flush_s=3600)
    harness.pipeline.submit(beat("b1", battery=90, seconds=-1))
    harness.pipeline.submit(press("b1", "e1", mid=7))
    await wait_for(lambda: len(harness.acker.acked) == 1)
    assert harness.acker.acked[0].mid == 7
    device = (await harness.store.list_device_states())["b1"]
    assert (device.battery, device.rssi) == (33, -60)
    await harness.pipeline.stop()
    assert harness.commits() == 1


@dataclass(slots=True)
class BatteryOf(Command):
    """Reads what the plan knows of a button's battery; `heard` declares that it decides on it."""

    button: str
    heard: bool

    def heard_from(self) -> tuple[str, ...]:
        return (self.button,) if self.heard else ()

    def plan(self, plan: Plan) -> int | None:
        device = plan.draft.device(self.button)
        return device.battery if device else None


async def test_a_command_that_decides_on_a_button_sees_its_held_heartbeat(
    start_pipeline: StartPipeline,
) -> None:
    """The supervisor's review must not find a button silent for a heartbeat that is only held:
    a command naming the button in `heard_from` has the held heartbeat committed ahead of it; a
    command that names no button leaves it held."""
    harness = await start_pipeline(heartbeat_flush_s=3600)
    harness.pipeline.submit(beat("b1", battery=90))
    assert await harness.pipeline.execute(BatteryOf("b1", heard=False)) is None
    assert await harness.pipeline.execute(BatteryOf("b1", heard=True)) == 90


async def test_a_command_after_the_stop_is_refused_at_once(
    start_pipeline: StartPipeline,
) -> None:
    """Once the writer has stopped, a command (from a part that stops later) gets an error at
    once instead of waiting for an answer that will never come."""
    harness = await start_pipeline()
    await harness.pipeline.stop()
    with pytest.raises(ChuongError, match="stopping"):
        await asyncio.wait_for(harness.pipeline.execute(BatteryOf("b1", heard=False)), 5)


async def test_a_heartbeat_newer_than_the_last_press_is_applied(
    start_pipeline: StartPipeline,
) -> None:
    harness = await start_pipeline(heartbeat_flush_s=3600)
    harness.pipeline.submit(press("b1", "e1", mid=7))
    await wait_for(lambda: len(harness.acker.acked) == 1)
    harness.pipeline.submit(beat("b1", battery=90, seconds=1))
    await harness.pipeline.stop()
    assert (await harness.store.list_device_states())["b1"].battery == 90


async def test_a_heartbeat_that_came_with_qos1_is_queued_and_acknowledged_after_its_commit(
    start_pipeline: StartPipeline,
) -> None:
    """A profile's heartbeat with a broker delivery is not held: the broker waits for its
    PUBACK, which follows its commit."""
    harness = await start_pipeline(heartbeat_flush_s=3600)
    harness.pipeline.submit(beat("b1", battery=70, delivery=Delivery(9, 1, 1)))
    await wait_for(lambda: len(harness.acker.acked) == 1)
    assert (await harness.store.list_device_states())["b1"].battery == 70


async def test_too_many_buttons_held_drops_new_ones_and_counts_them(
    start_pipeline: StartPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hold is bounded: beyond the limit of buttons, heartbeats of new buttons are dropped
    (and counted); buttons already held still have their latest kept."""
    monkeypatch.setattr(pipeline_module, "HEARTBEAT_BACKLOG_LIMIT", 3)
    harness = await start_pipeline(heartbeat_flush_s=3600)
    for n in range(5):
        harness.pipeline.submit(beat(f"b{n}", battery=10))
    harness.pipeline.submit(beat("b0", battery=11))
    await harness.pipeline.stop()
    devices = await harness.store.list_device_states()
    assert sorted(devices) == ["b0", "b1", "b2"]
    assert devices["b0"].battery == 11
    dropped = harness.metrics.registry.get_sample_value("chuong_heartbeats_dropped_total")
    assert dropped == 2


async def test_pubacks_are_flushed_in_arrival_order_before_the_fan_out(
    start_pipeline: StartPipeline,
) -> None:
    """Two presses committed in one batch: both PUBACKs, in arrival order, then one flush, and
    only then the events that the fan-out turns into MQTT publications."""
    log: list[str] = []
    harness = await start_pipeline(log)
    harness.pipeline.submit(press("b1", "e1", mid=1))
    harness.pipeline.submit(press("b2", "e2", mid=2))
    await wait_for(lambda: len(harness.acker.acked) == 2)
    assert harness.commits() == 1
    assert log[:3] == ["ack 1", "ack 2", "flush"]
    assert {"AlarmChanged", "ButtonAck"} <= set(log[3:])


def register(harness: Harness, buttons: list[str]) -> None:
    """The buttons in the hub's registry (in memory: what supervision reviews), one site."""
    harness.pipeline.state.registry = Registry(
        sites={"bank": Site("bank", "Ngân hàng")},
        buttons={b: Button(b, "bank") for b in buttons},
    )


def record_commits(harness: Harness, log: list[str]) -> list[Changes]:
    """Every committed batch's changes, in order; `commit N` in `log` after each."""
    commits: list[Changes] = []
    commit = harness.store.commit

    async def recording(changes: Changes) -> float | None:
        result = await commit(changes)
        commits.append(changes)
        log.append(f"commit {len(commits)}")
        return result

    harness.store.commit = recording  # type: ignore[method-assign]
    return commits


def online_changes(changes: Changes) -> set[str]:
    """The buttons a commit sets online (their device row and `button.online` audit entry)."""
    audited = {row[4] for row in changes.audit if row[2] == "button.online"}
    return audited | {b for b, device in changes.devices.items() if device.online}


async def heard_but_not_marked(
    harness: Harness, heard: list[str], fresh: list[str], log: list[str]
) -> list[Changes]:
    """`heard` and `fresh` registered; `heard` have pressed (committed, acknowledged) and are
    not yet marked online. Returns the commits recorded from now on (and clears `log`)."""
    register(harness, heard + fresh)
    for n, button in enumerate(heard):
        harness.pipeline.submit(press(button, f"e-{button}", mid=10_000 + n))
    await wait_for(lambda: len(harness.acker.acked) == len(heard))
    commits = record_commits(harness, log)
    log.clear()
    return commits


def supervise(buttons: list[str]) -> Supervise:
    config = SupervisionSection()
    now = CLOCK.now()
    return Supervise(Reviewer.of(config), tuple(buttons), now - timedelta(seconds=10), now)


async def test_a_press_queued_behind_the_supervisors_command_goes_first_in_a_batch_of_its_own(
    start_pipeline: StartPipeline,
) -> None:
    """The supervisor sets 16 buttons online (heard from, never marked); 10 presses from buttons
    it has never reviewed arrive while its command waits in the queue. The presses are planned,
    committed and acknowledged in a batch without a single online change, before the
    supervisor's batch; the online changes are then committed, and durable."""
    log: list[str] = []
    harness = await start_pipeline(log)
    heard = [f"h{n:02d}" for n in range(SUPERVISE_CHUNK)]
    fresh = [f"n{n:02d}" for n in range(10)]
    commits = await heard_but_not_marked(harness, heard, fresh, log)
    review = asyncio.create_task(harness.pipeline.execute(supervise(heard)))
    await asyncio.sleep(0)  # the command is queued
    for n, button in enumerate(fresh):
        harness.pipeline.submit(press(button, f"e-{button}", mid=n + 1))
    applied = await review
    assert {button for button, _ in applied} == set(heard)
    pressed = [c for c in commits if c.presses]
    assert [sorted(p.button_id for p in c.presses) for c in pressed] == [fresh]
    assert all(not online_changes(c) for c in pressed)
    [marked] = [c for c in commits if online_changes(c)]
    assert online_changes(marked) == set(heard)
    assert not marked.presses
    assert log.index("ack 10") < log.index(f"commit {commits.index(marked) + 1}")
    devices = await harness.store.list_device_states()
    assert all(devices[b].online for b in heard)
    assert all(devices[b].online is None for b in fresh)


async def test_500_new_buttons_pressing_amid_the_supervisors_commands_never_share_a_batch(
    start_pipeline: StartPipeline,
) -> None:
    """500 buttons press at once while the supervisor's commands setting 500 others online are
    queued among them (a chunk after every 50 presses). No batch holds both a press and an
    online change; every press is acknowledged after its own commit; every button reviewed is
    online in the store at the end."""
    log: list[str] = []
    harness = await start_pipeline(log)
    heard = [f"h{n:03d}" for n in range(500)]
    fresh = [f"n{n:03d}" for n in range(500)]
    commits = await heard_but_not_marked(harness, heard, fresh, log)
    chunks = [heard[i : i + SUPERVISE_CHUNK] for i in range(0, len(heard), SUPERVISE_CHUNK)]
    reviews = []
    for n, button in enumerate(fresh):
        harness.pipeline.submit(press(button, f"e-{button}", mid=n + 1))
        if n % 50 == 0 and chunks:
            reviews.append(asyncio.create_task(harness.pipeline.execute(supervise(chunks.pop()))))
            await asyncio.sleep(0)  # queued between the presses
    reviews += [asyncio.create_task(harness.pipeline.execute(supervise(c))) for c in chunks]
    await asyncio.gather(*reviews)
    await wait_for(lambda: len(harness.acker.acked) == len(heard) + len(fresh))
    assert sum(len(c.presses) for c in commits) == len(fresh)
    assert all(not (c.presses and online_changes(c)) for c in commits)
    committed_in = {p.button_id: i for i, c in enumerate(commits) for p in c.presses}
    for n, button in enumerate(fresh):
        assert log.index(f"commit {committed_in[button] + 1}") < log.index(f"ack {n + 1}")
    devices = await harness.store.list_device_states()
    assert all(devices[b].online for b in heard)


async def test_upkeep_queued_before_the_stop_is_still_committed(
    start_pipeline: StartPipeline,
) -> None:
    """A supervisor's command set aside for the messages behind it, then the stop: it is
    committed (not refused), and its online changes are durable."""
    harness = await start_pipeline()
    register(harness, ["h1"])
    harness.pipeline.submit(press("h1", "e1", mid=1))
    await wait_for(lambda: len(harness.acker.acked) == 1)
    review = asyncio.create_task(harness.pipeline.execute(supervise(["h1"])))
    await asyncio.sleep(0)
    harness.pipeline.submit(press("h2", "e2", mid=2))
    await harness.pipeline.stop()
    assert [button for button, _ in await review] == ["h1"]
    assert (await harness.store.list_device_states())["h1"].online is True


async def test_quiet_returns_once_the_writer_has_committed_what_was_queued(
    start_pipeline: StartPipeline,
) -> None:
    """`quiet` (what the supervisor's review waits for between two slices) returns only once
    the press queued before it is committed and acknowledged; with the writer held in a commit
    it still returns, after its limit."""
    harness = await start_pipeline()
    harness.pipeline.submit(press("b1", "e1", mid=1))
    await harness.pipeline.quiet(60)
    assert [d.mid for d in harness.acker.acked] == [1]
    release = asyncio.Event()
    commit = harness.store.commit

    async def held(changes: Changes) -> float | None:
        await release.wait()
        return await commit(changes)

    harness.store.commit = held  # type: ignore[method-assign]
    harness.pipeline.submit(press("b2", "e2", mid=2))
    await harness.pipeline.quiet(0.01)
    assert [d.mid for d in harness.acker.acked] == [1]
    release.set()
    await harness.pipeline.quiet(60)
    assert [d.mid for d in harness.acker.acked] == [1, 2]


async def test_a_stream_of_presses_lets_waiting_upkeep_through_after_a_few_batches(
    start_pipeline: StartPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Presses keep the writer busy (one a batch here): the supervisor's command set aside for
    them is committed once `UPKEEP_OVERTAKEN_MAX` (2 here) of their batches have gone ahead,
    not after the whole stream: supervision is slowed down by a flood, never starved."""
    monkeypatch.setattr(pipeline_module, "UPKEEP_OVERTAKEN_MAX", 2)
    log: list[str] = []
    harness = await start_pipeline(log, batch_max=1)
    heard = ["h1"]
    fresh = [f"n{n}" for n in range(6)]
    commits = await heard_but_not_marked(harness, heard, fresh, log)
    review = asyncio.create_task(harness.pipeline.execute(supervise(heard)))
    await asyncio.sleep(0)
    for n, button in enumerate(fresh):
        harness.pipeline.submit(press(button, f"e-{button}", mid=n + 1))
    await review
    await wait_for(lambda: len(harness.acker.acked) == len(heard) + len(fresh))
    kinds = ["online" if online_changes(c) else f"{len(c.presses)} press" for c in commits]
    assert kinds == ["1 press", "1 press", "online"] + ["1 press"] * 4


async def test_a_fleets_heartbeats_never_hold_the_supervisors_command_for_good(
    start_pipeline: StartPipeline,
) -> None:
    """Heartbeats keep arriving, so that a flush of them is always queued when a batch ends (the
    queue is never empty) and no press comes: the supervisor's command set aside still goes
    once `UPKEEP_OVERTAKEN_MAX` flushes have gone ahead of it. (Counting only press batches, it
    waited for as long as the heartbeats came: supervision stopped.)"""
    harness = await start_pipeline(batch_max=2, heartbeat_flush_s=0.001)
    heard = ["h1"]
    fleet = [f"f{n}" for n in range(50)]
    await heard_but_not_marked(harness, heard, fleet, [])
    beating = True

    async def beats() -> None:
        n = 0
        while beating:
            harness.pipeline.submit(beat(fleet[n % len(fleet)], 80))
            n += 1
            await asyncio.sleep(0)

    fleet_task = asyncio.create_task(beats())
    try:
        await asyncio.sleep(0.05)
        review = asyncio.create_task(harness.pipeline.execute(supervise(heard)))
        await wait_for(review.done, 20)
        review.result()
    finally:
        beating = False
        await fleet_task
    assert (await harness.store.list_device_states())["h1"].online is True
