"""Unit tests of hub/broker/fanout.py: what the hub publishes after each commit, and again on
every (re)connection. Pure logic: the publisher records, the store answers from a list."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import cast

from devices.topics import Topics
from hub.broker.fanout import RECLEAR_WINDOW, MqttFanout
from hub.clock import iso
from hub.domain import alarms
from hub.domain.bus import AlarmChanged, BrokerConnected, Bus, ButtonAck
from hub.domain.model import AckState, Alarm, AlarmChange, Outcome
from hub.domain.state import HubState
from hub.store import Store

NOW = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | str, int, bool]] = []

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        self.sent.append((topic, payload, qos, retain))


class FakeStore:
    def __init__(self, resolved: list[Alarm], fail: bool = False) -> None:
        self.resolved = resolved
        self.fail = fail
        self.asked: list[str] = []

    async def resolved_since(self, since: str) -> list[Alarm]:
        self.asked.append(since)
        if self.fail:
            raise OSError("disk gone")
        return self.resolved


class FixedClock:
    def now(self) -> datetime:
        return NOW

    def monotonic(self) -> float:
        return 0.0


def raised(seq: int, button: str = "b1", event: str = "e1") -> Alarm:
    return alarms.raise_alarm(
        hub_id="post",
        seq=seq,
        button=button,
        event_id=event,
        site=None,
        registered=True,
        test=False,
        now=NOW,
    )


async def started(
    state: HubState | None = None, store: FakeStore | None = None
) -> tuple[MqttFanout, Bus, Recorder]:
    bus, recorder = Bus(), Recorder()
    fanout = MqttFanout(
        bus=bus,
        publisher=recorder,
        topics=Topics(),
        state=state or HubState(next_alarm_seq=1, next_trouble_id=1),
        store=cast(Store, store or FakeStore([])),
        clock=FixedClock(),
    )
    await fanout.start()
    return fanout, bus, recorder


def acks(recorder: Recorder) -> list[tuple[str, dict[str, str]]]:
    return [(t, json.loads(p)) for t, p, _, _ in recorder.sent if t.endswith("/ack")]


async def test_a_button_hears_received_for_its_committed_press() -> None:
    fanout, bus, recorder = await started()
    bus.publish(ButtonAck("b1", "e1", "post-1", AckState.RECEIVED))
    assert acks(recorder) == [
        (
            "chuong/v1/dev/b1/ack",
            {"event": "e1", "alarm": "post-1", "state": "received"},
        )
    ]
    assert recorder.sent[0][2:] == (1, False)  # QoS 1, not retained
    await fanout.stop()


async def test_an_open_alarm_is_retained_and_a_resolved_one_cleared() -> None:
    """Raised: retained on its topic. Resolved: published once (not retained), then the retained
    copy is cleared with an empty retained payload."""
    fanout, bus, recorder = await started()
    alarm = raised(1)
    bus.publish(AlarmChanged(alarm, AlarmChange.RAISED, "b1"))
    [(topic, payload, qos, retain)] = recorder.sent
    assert (topic, qos, retain) == ("chuong/v1/alarms/post-1", 1, True)
    assert json.loads(payload)["state"] == "active"

    recorder.sent.clear()
    done = alarms.resolve(alarm, "user:an", NOW, Outcome.FALSE_ALARM, "", may_skip_ack=True)
    bus.publish(AlarmChanged(done, AlarmChange.RESOLVED, "user:an"))
    published = [(t, r) for t, _, _, r in recorder.sent if t.startswith("chuong/v1/alarms/")]
    assert published == [("chuong/v1/alarms/post-1", False), ("chuong/v1/alarms/post-1", True)]
    assert recorder.sent[1][1] == b""
    assert acks(recorder) == [
        ("chuong/v1/dev/b1/ack", {"event": "e1", "alarm": "post-1", "state": "resolved"})
    ]
    await fanout.stop()


async def test_every_button_of_the_alarm_hears_the_acknowledgement_of_its_last_press() -> None:
    fanout, bus, recorder = await started()
    alarm = alarms.add_press(raised(1), "b2", "e9", NOW)
    alarm = alarms.add_press(alarm, "b1", "e2", NOW)
    acknowledged = alarms.acknowledge(alarm, "user:an", NOW)
    bus.publish(AlarmChanged(acknowledged, AlarmChange.ACKNOWLEDGED, "user:an"))
    assert sorted((t, a["event"], a["state"]) for t, a in acks(recorder)) == [
        ("chuong/v1/dev/b1/ack", "e2", "acknowledged"),
        ("chuong/v1/dev/b2/ack", "e9", "acknowledged"),
    ]
    await fanout.stop()


async def test_a_press_on_an_open_alarm_republishes_it_but_sends_no_ack_itself() -> None:
    """The press's own `received` comes as a ButtonAck; the alarm change only updates the
    retained alarm."""
    fanout, bus, recorder = await started()
    bus.publish(AlarmChanged(alarms.add_press(raised(1), "b1", "e2", NOW), AlarmChange.PRESS, "b1"))
    assert [t for t, _, _, _ in recorder.sent] == ["chuong/v1/alarms/post-1"]
    await fanout.stop()


async def test_a_reconnection_republishes_open_alarms_and_clears_recently_resolved() -> None:
    """A crash between a commit and its publication leaves nothing stale: on (re)connection
    every open alarm is retained again with its buttons' acks, and alarms resolved in the last
    day have their retained topic cleared again."""
    state = HubState(next_alarm_seq=3, next_trouble_id=1, open_alarms=[raised(1)])
    old = alarms.resolve(raised(2, "b5", "e5"), "hub", NOW, Outcome.TEST, "", may_skip_ack=True)
    store = FakeStore([old])
    fanout, bus, recorder = await started(state, store)
    bus.publish(BrokerConnected(session_present=False))
    for _ in range(100):
        if len(recorder.sent) == 3:
            break
        await asyncio.sleep(0.01)
    assert [(t, r) for t, _, _, r in recorder.sent] == [
        ("chuong/v1/alarms/post-1", True),
        ("chuong/v1/dev/b1/ack", False),
        ("chuong/v1/alarms/post-2", True),
    ]
    assert recorder.sent[2][1] == b""
    assert store.asked == [iso(NOW - RECLEAR_WINDOW)]
    assert timedelta(days=1) == RECLEAR_WINDOW
    await fanout.stop()


async def test_a_store_error_on_reconnection_still_republishes_the_open_alarms() -> None:
    state = HubState(next_alarm_seq=2, next_trouble_id=1, open_alarms=[raised(1)])
    store = FakeStore([], fail=True)
    fanout, bus, recorder = await started(state, store)
    bus.publish(BrokerConnected(session_present=True))
    for _ in range(100):
        if store.asked:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)
    assert [t for t, _, _, _ in recorder.sent] == [
        "chuong/v1/alarms/post-1",
        "chuong/v1/dev/b1/ack",
    ]
    await fanout.stop()


async def test_after_stop_nothing_is_published() -> None:
    fanout, bus, recorder = await started()
    await fanout.stop()
    bus.publish(ButtonAck("b1", "e1", "post-1", AckState.RECEIVED))
    assert recorder.sent == []
