"""The topic repair with a real store and pipeline, and a broker link whose queue the test holds.

The link stands in for the MQTT adapter (tests/integration/test_alarm_topics.py runs the real
one against Mosquitto): it keeps what the "broker" retains, answers `read_retained` from it, and
reports as many publications waiting as the test says, so the test decides when the queue is low.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devices.messages import EventType, PressEvent
from devices.topics import Topics
from hub.broker.repair import REPAIRED_KEY, TopicRepair
from hub.clock import SystemClock, iso, parse_iso
from hub.domain.bus import BrokerConnected, Bus
from hub.domain.inbound import Delivery, PressIn
from hub.domain.model import Outcome
from hub.domain.views import alarm_json
from hub.metrics import Metrics
from hub.store import Store
from hub.writer.commands import AcknowledgeAlarm, ResolveAlarm, SetMeta
from hub.writer.pipeline import Pipeline
from tests.conftest import wait_for

TOPICS = Topics("chuong/v1")


class Link:
    """A broker link: retained messages kept, publications counted as waiting while `held`."""

    def __init__(self, *, readable: bool = True, outgoing_limit: int = 40) -> None:
        self.connected = True
        self.outgoing_limit = outgoing_limit
        self.readable = readable
        self.held = False
        self.waiting = 0
        self.retained: dict[str, bytes] = {}
        self.published: list[tuple[str, bytes, bool]] = []
        self.sink: Callable[[str, bytes, bool], None] = lambda topic, payload, retain: None

    @property
    def outgoing(self) -> int:
        return self.waiting

    def release(self) -> None:
        self.held = False
        self.waiting = 0

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        self.published.append((topic, data, retain))
        if self.held:
            self.waiting += 1
        if retain:
            if data:
                self.retained[topic] = data
            else:
                self.retained.pop(topic, None)

    def read_retained(self, topic: str) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self.readable:
            for held_topic, payload in list(self.retained.items()):
                self.sink(held_topic, payload, True)
        future.set_result(self.readable)
        return future

    def alarm_topics(self) -> list[str]:
        return [t for t, _, retain in self.published if retain and "/alarms/" in t]

    def acks(self) -> list[str]:
        return [t for t, _, _ in self.published if t.endswith("/ack")]


class Acker:
    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, delivery: Delivery) -> None:
        self.acked.append(delivery.mid)

    def flush(self) -> None:
        """Nothing to write."""


@dataclass
class Harness:
    store: Store
    pipeline: Pipeline
    bus: Bus
    link: Link
    acker: Acker
    metrics: Metrics
    repair: TopicRepair

    async def press(self, button: str, mid: int) -> str:
        """A press of a fresh button: its alarm's id once committed."""
        self.pipeline.submit(
            PressIn(
                button,
                PressEvent(id=f"e-{button}", type=EventType.PRESS),
                datetime.now(UTC),
                Delivery(mid=mid, qos=1, connection=1),
            )
        )
        await wait_for(lambda: mid in self.acker.acked)
        return next(
            a.id for a in self.pipeline.state.alarms.values() if a.devices[0].button == button
        )

    def waiting(self) -> float:
        return self.metrics.registry.get_sample_value("chuong_alarm_topics_waiting") or 0.0

    def repaired(self, action: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "chuong_alarm_topics_repaired_total", {"action": action}
        )
        return value or 0.0

    async def connected(self) -> None:
        """A (re)connection, and the repair it starts, to its end."""
        done = self.repair.completed
        self.bus.publish(BrokerConnected(True))
        await wait_for(lambda: self.repair.completed > done)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Callable[[Link], Awaitable[Harness]]]:
    store = Store(tmp_path / "hub.db")
    await store.open()
    made: list[Harness] = []

    async def make(link: Link) -> Harness:
        bus, acker, metrics = Bus(), Acker(), Metrics()
        pipeline = Pipeline(
            store=store,
            state=await store.load_state(),
            bus=bus,
            metrics=metrics,
            clock=SystemClock(),
            acker=acker,
            hub_id="post",
        )
        await pipeline.start()
        repair = TopicRepair(
            bus=bus,
            link=link,
            topics=TOPICS,
            state=pipeline.state,
            store=store,
            clock=SystemClock(),
            metrics=metrics,
            execute=pipeline.execute,
        )
        link.sink = repair.seen
        await repair.start()
        made.append(Harness(store, pipeline, bus, link, acker, metrics, repair))
        return made[-1]

    yield make
    for h in made:
        await h.repair.stop()
        await h.pipeline.stop()
    await store.close()


async def test_only_what_differs_from_the_store_is_published_and_stale_alarms_are_cleared(
    harness: Callable[[Link], Awaitable[Harness]],
) -> None:
    """The broker retains one alarm as it is, one with an older state, misses one, and retains
    one that is not open: the repair publishes the second and the third, clears the fourth,
    leaves the first alone, and sends every open alarm's ack again."""
    link = Link()
    h = await harness(link)
    same, older, missing = [await h.press(f"b{n}", n) for n in (1, 2, 3)]
    link.retained[TOPICS.alarm(same)] = alarm_json(h.pipeline.state.alarms[same]).encode()
    link.retained[TOPICS.alarm(older)] = alarm_json(h.pipeline.state.alarms[older]).encode()
    await h.pipeline.execute(AcknowledgeAlarm(older, "boss"))
    link.retained[TOPICS.alarm("post-999")] = b'{"id": "post-999", "state": "active"}'
    link.published.clear()

    await h.connected()

    assert sorted(link.alarm_topics()) == sorted(
        [TOPICS.alarm(older), TOPICS.alarm(missing), TOPICS.alarm("post-999")]
    )
    assert link.retained == {
        TOPICS.alarm(a): alarm_json(h.pipeline.state.alarms[a]).encode()
        for a in (same, older, missing)
    }
    assert sorted(link.acks()) == sorted(TOPICS.ack(b) for b in ("b1", "b2", "b3"))
    assert (h.repaired("published"), h.repaired("cleared"), h.waiting()) == (2, 1, 0)


async def test_a_press_is_acknowledged_while_the_repair_waits_for_the_broker(
    harness: Callable[[Link], Awaitable[Harness]],
) -> None:
    """200 open alarms missing from the broker, which takes nothing (its queue stays full): the
    repair publishes a first batch and waits; a press that comes meanwhile is committed and
    acknowledged at once, with topics still waiting. Once the broker takes them, all are
    published."""
    link = Link(outgoing_limit=40)  # low-water mark 10, batches of 10
    h = await harness(link)
    alarms = [await h.press(f"b{n}", n) for n in range(200)]
    link.retained.clear()
    link.held = True
    done = h.repair.completed
    h.bus.publish(BrokerConnected(True))
    await wait_for(lambda: link.waiting >= 10)

    await h.press("late", 1000)
    assert h.waiting() > 100, "the repair was still waiting when the press was acknowledged"
    assert h.repair.completed == done

    link.release()
    await wait_for(lambda: h.repair.completed > done)
    assert set(link.retained) >= {TOPICS.alarm(a) for a in alarms}


async def test_a_dropped_publication_is_repaired_once_the_queue_is_low_without_a_connection(
    harness: Callable[[Link], Awaitable[Harness]],
) -> None:
    """After a repair, one alarm's publication is dropped by a full queue: nothing is published
    while the queue stays high; once it is low, the alarm is on its topic again, and no new
    connection was needed."""
    link = Link()
    h = await harness(link)
    alarm = await h.press("b1", 1)
    await h.connected()
    link.retained.pop(TOPICS.alarm(alarm))  # the broker never got the last publication
    link.published.clear()
    link.held, link.waiting = True, 40
    done = h.repair.completed

    h.repair.publication_dropped()
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert link.published == [], "nothing goes into a full queue"

    link.release()
    await wait_for(lambda: h.repair.completed > done)
    assert link.retained == {
        TOPICS.alarm(alarm): alarm_json(h.pipeline.state.alarms[alarm]).encode()
    }


async def test_without_read_access_every_open_alarm_is_published_and_old_resolutions_cleared(
    harness: Callable[[Link], Awaitable[Harness]],
) -> None:
    """A broker that does not let the hub read its alarm topics (an ACL from before the repair):
    every open alarm is published, and alarms resolved since a day before the last complete
    repair are cleared, however long ago that was (the hub was away for days). The repair then
    records itself complete."""
    link = Link(readable=False)
    h = await harness(link)
    kept, old, older = [await h.press(f"b{n}", n) for n in (1, 2, 3)]
    for alarm in (old, older):
        await h.pipeline.execute(
            ResolveAlarm(alarm, "boss", Outcome.TEST, "thử", may_skip_ack=True)
        )
    now = datetime.now(UTC)
    with contextlib.closing(sqlite3.connect(h.store.path)) as conn, conn:
        conn.execute(
            "UPDATE alarms SET resolved_at = ? WHERE id = ?", (iso(now - timedelta(days=3)), old)
        )
        conn.execute(
            "UPDATE alarms SET resolved_at = ? WHERE id = ?", (iso(now - timedelta(days=9)), older)
        )
    await h.pipeline.execute(SetMeta(REPAIRED_KEY, iso(now - timedelta(days=3, hours=12))))
    link.published.clear()

    await h.connected()

    assert link.alarm_topics() == [TOPICS.alarm(kept), TOPICS.alarm(old)]
    assert link.retained == {TOPICS.alarm(kept): alarm_json(h.pipeline.state.alarms[kept]).encode()}

    async def recorded() -> bool:
        mark = await h.store.meta(REPAIRED_KEY)
        return mark is not None and parse_iso(mark) > now - timedelta(minutes=1)

    await wait_for(recorded)


async def test_a_broker_that_shows_no_retained_alarm_gets_the_fallback_too(
    harness: Callable[[Link], Awaitable[Harness]],
) -> None:
    """Mosquitto lets a hub without read access subscribe and then hides every message, which
    reads as "nothing retained": the repair then also clears the recently resolved alarms (their
    clear may have been lost), not only publishes the open ones."""
    link = Link()
    h = await harness(link)
    kept, resolved = [await h.press(f"b{n}", n) for n in (1, 2)]
    await h.pipeline.execute(ResolveAlarm(resolved, "boss", Outcome.TEST, "thử", may_skip_ack=True))
    link.published.clear()

    await h.connected()

    assert link.alarm_topics() == [TOPICS.alarm(kept), TOPICS.alarm(resolved)]
    assert [p for t, p, _ in link.published if t == TOPICS.alarm(resolved)] == [b""]


async def test_a_store_error_still_lets_the_open_alarms_out(
    harness: Callable[[Link], Awaitable[Harness]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store cannot say which alarms were resolved: the open ones are published all the
    same, and the repair ends."""
    link = Link()
    h = await harness(link)
    kept = await h.press("b1", 1)

    async def broken(since: str) -> list[object]:
        raise OSError("disk gone")

    monkeypatch.setattr(h.store, "resolved_since", broken)
    await h.connected()
    assert link.alarm_topics() == [TOPICS.alarm(kept)]
