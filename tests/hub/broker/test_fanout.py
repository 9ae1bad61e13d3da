"""Unit tests of hub/broker/fanout.py: what the hub publishes after each commit (what it publishes
again after a connection is the topic repair's: tests/hub/broker/test_repair.py). Pure logic: the
publisher records."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from devices.topics import Topics
from hub.broker.fanout import MqttFanout
from hub.domain import alarms
from hub.domain.bus import AlarmChanged, Bus, ButtonAck
from hub.domain.model import AckState, Alarm, AlarmChange, Outcome

NOW = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | str, int, bool]] = []

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        self.sent.append((topic, payload, qos, retain))


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


async def started() -> tuple[MqttFanout, Bus, Recorder]:
    bus, recorder = Bus(), Recorder()
    fanout = MqttFanout(bus=bus, publisher=recorder, topics=Topics())
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


async def test_after_stop_nothing_is_published() -> None:
    fanout, bus, recorder = await started()
    await fanout.stop()
    bus.publish(ButtonAck("b1", "e1", "post-1", AckState.RECEIVED))
    assert recorder.sent == []
