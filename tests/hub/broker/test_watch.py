"""The broker watch changes the hub's state only through the writer: `listening_since` and the
connection events follow a batch, like every other change."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.broker.watch import SESSION_KEY, BrokerWatch
from hub.clock import SystemClock
from hub.domain.bus import BrokerConnected, BrokerDisconnected, Bus, Event
from hub.domain.inbound import Delivery
from hub.metrics import Metrics
from hub.store import Store
from hub.writer.commands import SetMeta
from hub.writer.pipeline import Pipeline

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


class FixedClock(SystemClock):
    def now(self) -> datetime:
        return T0


class NoAcker:
    def ack(self, delivery: Delivery) -> None:
        raise AssertionError("no message is acknowledged here")

    def flush(self) -> None:
        pass


@dataclass
class Rig:
    store: Store
    pipeline: Pipeline
    bus: Bus
    watch: BrokerWatch
    seen: list[tuple[Event, datetime | None]]
    """Each event with `listening_since` as it was when the event was published."""


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = Store(tmp_path / "hub.db")
    await store.open()
    bus = Bus()
    pipeline = Pipeline(
        store=store,
        state=await store.load_state(),
        bus=bus,
        metrics=Metrics(),
        clock=FixedClock(),
        acker=NoAcker(),
        hub_id="post",
    )
    await pipeline.start()
    seen: list[tuple[Event, datetime | None]] = []
    bus.subscribe(lambda event: seen.append((event, pipeline.state.listening_since)))
    watch = BrokerWatch(pipeline=pipeline, store=store, clock=FixedClock())
    await watch.start()
    yield Rig(store, pipeline, bus, watch, seen)
    await watch.stop()
    await pipeline.stop()
    await store.close()


async def next_event(rig: Rig, kind: type) -> tuple[Event, datetime | None]:
    queue = rig.bus.queue()
    try:
        while True:
            event = await queue.get(timeout=15)
            if isinstance(event, kind):
                return next(pair for pair in rig.seen if pair[0] == event)
    finally:
        queue.close()


async def test_connecting_sets_listening_since_through_the_writer(rig: Rig) -> None:
    """Nothing changes until the writer's batch: then `listening_since` is the time of the
    connection, and the `BrokerConnected` event goes out with the state already changed."""
    waiting = next_event(rig, BrokerConnected)
    rig.watch.connected(session_present=False)
    assert rig.pipeline.state.listening_since is None  # not changed behind the writer's back
    event, since_at_publish = await waiting
    assert event == BrokerConnected(False)
    assert since_at_publish == T0
    assert rig.pipeline.state.listening_since == T0


async def test_disconnecting_clears_listening_since_through_the_writer(rig: Rig) -> None:
    rig.watch.connected(session_present=False)
    await next_event(rig, BrokerConnected)
    waiting = next_event(rig, BrokerDisconnected)
    rig.watch.disconnected("network")
    assert rig.pipeline.state.listening_since == T0
    event, since_at_publish = await waiting
    assert event == BrokerDisconnected("network")
    assert since_at_publish is None
    assert rig.pipeline.state.listening_since is None


async def test_the_first_session_is_remembered(rig: Rig) -> None:
    """A first connection stores that a session exists (a later one without it is a trouble)."""
    rig.watch.connected(session_present=False)
    await next_event(rig, BrokerConnected)
    await rig.pipeline.execute(SetMeta("barrier", "1"))  # commands run in order: the watch's first
    assert await rig.store.meta(SESSION_KEY) == "1"


async def test_a_stopping_hub_ignores_the_disconnection(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """The MQTT adapter disconnects after the pipeline has stopped: nothing is tried, nothing is
    logged as a failure."""
    await rig.pipeline.stop()
    with caplog.at_level(logging.WARNING):
        rig.watch.disconnected("stopping")
        await rig.watch.stop()
    assert not [r for r in caplog.records if r.name == "hub.broker.watch"]
