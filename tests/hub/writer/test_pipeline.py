"""The pipeline with a real SQLite store: acknowledgement only after commit, in arrival order;
commands answered; a stop that leaves nothing hanging."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devices.messages import EventType, Heartbeat, PressEvent
from hub.clock import SystemClock
from hub.domain.bus import Bus
from hub.domain.inbound import Delivery, HeartbeatIn, IgnoredIn, PressIn, RejectedIn
from hub.domain.model import Button, Site
from hub.errors import ChuongError
from hub.metrics import PRESS_STAGES, Metrics
from hub.store import Store
from hub.store.admin import import_registry
from hub.store.db import open_sync
from hub.writer import plan as plan_module
from hub.writer.commands import AcknowledgeAlarm
from hub.writer.pipeline import Pipeline
from tests.conftest import wait_for


class RecordingAcker:
    """Records PUBACKs; with `presses`, checks through another connection that the acknowledged
    press is already committed at the moment of its ack."""

    def __init__(self, db: Path, presses: dict[int, tuple[str, str]] | None = None) -> None:
        self.db = db
        self.presses = presses or {}
        self.acked: list[int] = []
        self.visible_at_ack: list[bool] = []

    def ack(self, delivery: Delivery) -> None:
        self.acked.append(delivery.mid)
        if delivery.mid in self.presses:
            with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as conn:
                row = conn.execute(
                    "SELECT 1 FROM presses WHERE button_id = ? AND event_id = ?",
                    self.presses[delivery.mid],
                ).fetchone()
            self.visible_at_ack.append(row is not None)

    def flush(self) -> None:
        """The PUBACKs are recorded as they are given; there is no socket to write."""


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "hub.db")
    await store.open()
    yield store
    await store.close()


async def make_pipeline(
    store: Store,
    presses: dict[int, tuple[str, str]] | None = None,
    metrics: Metrics | None = None,
    **options: Any,
) -> tuple[Pipeline, RecordingAcker]:
    acker = RecordingAcker(store.path, presses)
    pipeline = Pipeline(
        store=store,
        state=await store.load_state(),
        bus=Bus(),
        metrics=metrics or Metrics(),
        clock=SystemClock(),
        acker=acker,
        hub_id="post",
        **options,
    )
    await pipeline.start()
    return pipeline, acker


def press(button: str, event: str, mid: int) -> PressIn:
    return PressIn(
        button,
        PressEvent(id=event, type=EventType.PRESS),
        datetime.now(UTC),
        Delivery(mid=mid, qos=1, connection=1),
    )


async def test_acks_follow_the_commit_in_arrival_order(store: Store) -> None:
    """Presses submitted together are acknowledged in the order they arrived, and at the moment of
    each ack another connection already sees the press in the store (it is committed)."""
    presses = {mid: (f"b{mid % 7}", f"e{mid}") for mid in range(1, 51)}
    pipeline, acker = await make_pipeline(store, presses)
    for mid, (button, event) in presses.items():
        pipeline.submit(press(button, event, mid))
    await pipeline.stop()
    assert acker.acked == list(range(1, 51))
    assert acker.visible_at_ack == [True] * 50


async def test_a_command_is_answered_after_its_commit(store: Store) -> None:
    """`execute` returns the command's result once committed; a refused command raises."""
    pipeline, _ = await make_pipeline(store)
    pipeline.submit(press("b1", "e1", 1))
    await asyncio.sleep(0.05)
    [alarm_id] = list(pipeline.state.alarms)
    acknowledged = await pipeline.execute(AcknowledgeAlarm(alarm_id, "user:an"))
    assert acknowledged.acknowledged_by == "user:an"
    assert (await store.get_alarm(alarm_id)).acknowledged_by == "user:an"  # type: ignore[union-attr]
    with pytest.raises(ChuongError):
        await pipeline.execute(AcknowledgeAlarm(alarm_id, "user:binh"))
    await pipeline.stop()


async def test_commands_queued_behind_the_stop_are_refused_not_left_hanging(store: Store) -> None:
    """A command that arrives after the stop marker gets an error instead of waiting forever."""
    pipeline, _ = await make_pipeline(store)
    stopping = asyncio.create_task(pipeline.stop())
    await asyncio.sleep(0)
    late = asyncio.create_task(pipeline.execute(AcknowledgeAlarm("post-1", "user:an")))
    await stopping
    with pytest.raises(ChuongError, match="stopping"):
        await asyncio.wait_for(late, 5)


async def test_unregistered_devices_are_tracked_up_to_a_limit(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond MAX_UNREGISTERED_DEVICES, a new unknown button's heartbeat is not tracked (and
    counted), but its press still raises an alarm."""
    monkeypatch.setattr(plan_module, "MAX_UNREGISTERED_DEVICES", 3)
    pipeline, _ = await make_pipeline(store, heartbeat_flush_s=0.01)
    now = datetime.now(UTC)
    for n in range(5):
        pipeline.submit(HeartbeatIn(f"ghost-{n}", Heartbeat(battery=50), now, None))
    for _ in range(200):  # the held heartbeats are committed after heartbeat_flush_s
        if pipeline.state.devices:
            break
        await asyncio.sleep(0.01)
    pipeline.submit(press("ghost-9", "e1", 1))
    await pipeline.stop()
    assert sorted(pipeline.state.devices) == ["ghost-0", "ghost-1", "ghost-2"]
    assert [a.buttons for a in pipeline.state.alarms.values()] == [("ghost-9",)]


async def test_every_count_of_a_plan_reaches_a_metric(store: Store) -> None:
    """Raised alarms (by test flag) and ignored messages (by reason) are counted on /metrics, as
    presses, duplicates and rejections are."""
    metrics = Metrics()
    pipeline, _ = await make_pipeline(store, metrics=metrics)
    now = datetime.now(UTC)
    pipeline.submit(press("b1", "e1", 1))
    pipeline.submit(press("b1", "e1", 2))  # a redelivery
    pipeline.submit(IgnoredIn("zigbee2mqtt/remote", "nothing_to_record", now, None))
    pipeline.submit(IgnoredIn("shellies/x/input_event/0", "retained", now, None))
    pipeline.submit(IgnoredIn("shellies/y/input_event/0", "retained", now, None))
    pipeline.submit(RejectedIn("chuong/dev/b2/event", b"{", "invalid_json", "", "b2", now, None))
    await pipeline.stop()
    value = metrics.registry.get_sample_value
    assert value("chuong_alarms_raised_total", {"test": "false"}) == 1
    assert value("chuong_presses_total", {"type": "press"}) == 1
    assert value("chuong_press_duplicates_total") == 1
    assert value("chuong_ignored_messages_total", {"reason": "nothing_to_record"}) == 1
    assert value("chuong_ignored_messages_total", {"reason": "retained"}) == 2
    assert value("chuong_rejected_messages_total", {"reason": "invalid_json"}) == 1


async def test_each_press_is_timed_in_each_stage_and_each_commit_statement(store: Store) -> None:
    """Every press committed is observed once in every stage of `chuong_press_stage_seconds`
    (what the benchmark reads to put the tail down to a stage), and every SQLite commit's
    COMMIT statement in `chuong_store_commit_statement_seconds`."""
    metrics = Metrics()
    pipeline, _ = await make_pipeline(store, metrics=metrics)
    for n in range(1, 6):
        pipeline.submit(press(f"b{n}", f"e{n}", n))
    pipeline.submit(IgnoredIn("zigbee2mqtt/remote", "nothing_to_record", datetime.now(UTC), None))
    await pipeline.stop()
    value = metrics.registry.get_sample_value
    for stage in PRESS_STAGES:
        assert value("chuong_press_stage_seconds_count", {"stage": stage}) == 5, stage
    commits = value("chuong_commit_seconds_count")
    assert commits is not None
    assert commits >= 1
    assert value("chuong_store_commit_statement_seconds_count") == commits


async def test_a_read_that_fails_before_the_plan_is_retried_not_quarantined(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check for duplicates fails once with an error that may pass (on PostgreSQL: the server
    restarting between two batches): the batch waits and is planned again; the press becomes its
    alarm and is acknowledged after its commit, not set aside as rejected."""
    real = store.before_plan
    failures = [sqlite3.OperationalError("server closed the connection unexpectedly")]

    async def flaky(keys: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real(keys)

    monkeypatch.setattr(store, "before_plan", flaky)
    pipeline, acker = await make_pipeline(store, {1: ("b1", "e1")}, retry_max_s=0.1)
    pipeline.submit(press("b1", "e1", 1))
    await pipeline.stop()
    assert acker.acked == [1]
    assert acker.visible_at_ack == [True]
    assert await store.list_rejected() == []
    assert len(await store.list_alarms()) == 1


async def test_a_batch_makes_two_round_trips_to_the_writers_thread(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One press, one batch: its reads before the plan (the store's data version, the duplicate
    look-up) are one round trip to the writer's thread, its commit the other. Each round trip
    waits for that thread and then for the event loop: on a busy machine, milliseconds."""
    writer = store._writer
    assert writer is not None
    trips: list[str] = []
    run = writer.run

    def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return run(fn, *args, **kwargs)

    monkeypatch.setattr(writer, "run", counting)
    pipeline, acker = await make_pipeline(store)
    trips.clear()
    pipeline.submit(press("b1", "e1", 1))
    await wait_for(lambda: acker.acked == [1])
    assert len(trips) == 2, trips
    await pipeline.stop()


async def test_a_registry_reload_that_fails_once_is_tried_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line registers a button while the hub runs; reading the registry again fails
    once with an error that may pass. The reload is tried again, and the button's press is
    planned with it: its alarm carries the button's site."""
    pipeline, acker = await make_pipeline(store, retry_max_s=0.1)
    with contextlib.closing(open_sync(store.path, 5000)) as conn:
        import_registry(
            conn, [Site("bank", "Ngân hàng")], [Button("b1", "bank")], datetime.now(UTC), "cli"
        )
    real = store.load_registry
    failures = [sqlite3.OperationalError("database is locked")]

    async def flaky() -> Any:
        if failures:
            raise failures.pop()
        return await real()

    monkeypatch.setattr(store, "load_registry", flaky)
    pipeline.submit(press("b1", "e1", 1))
    await pipeline.stop()
    assert acker.acked == [1]
    assert failures == []
    [alarm] = await store.list_alarms()
    assert alarm.site is not None
    assert alarm.site.id == "bank"


async def test_a_registry_the_hub_cannot_read_does_not_cost_a_press_its_alarm(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process changes the registry and reading it fails with an error that will not
    pass (a row this hub cannot read). The press is planned on the registry the hub has and
    raises its alarm, with its site; it is not set aside as rejected. Once read again, the
    registry is taken."""
    pipeline, acker = await make_pipeline(store, retry_max_s=0.1)
    with contextlib.closing(open_sync(store.path, 5000)) as conn:
        import_registry(
            conn, [Site("bank", "Ngân hàng")], [Button("b1", "bank")], datetime.now(UTC), "cli"
        )
    real = store.load_registry
    broken = [ValueError("'unknown' is not a valid AlarmKind")]

    async def unreadable() -> Any:
        if broken:
            raise broken[0]
        return await real()

    monkeypatch.setattr(store, "load_registry", unreadable)
    pipeline.submit(press("b0", "e0", 1))  # a button the hub does not know yet
    await wait_for(lambda: acker.acked == [1])
    broken.clear()
    with contextlib.closing(open_sync(store.path, 5000)) as conn:
        import_registry(conn, [], [Button("b2", "bank")], datetime.now(UTC), "cli")
    pipeline.submit(press("b2", "e2", 2))
    await pipeline.stop()
    assert acker.acked == [1, 2]
    assert await store.list_rejected() == []
    alarms = {alarm.devices[0].button: alarm for alarm in await store.list_alarms()}
    assert set(alarms) == {"b0", "b2"}
    assert alarms["b2"].site is not None
