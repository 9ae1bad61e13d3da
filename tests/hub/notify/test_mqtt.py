"""Unit tests of hub/notify/mqtt.py: topics and payloads from templates (the publisher records;
the real broker path is covered end to end in tests/integration/escalation)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hub.domain import alarms
from hub.domain.model import Site, Trouble, TroubleState
from hub.escalation.engine import alarm_body
from hub.notify.base import Outgoing
from hub.notify.message import Message, TroubleSnapshot
from hub.notify.mqtt import MqttDevice, MqttNotifier

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
MESSAGE = Message("t", "x", "x")


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int, bool]] = []

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        self.sent.append((topic, str(payload), qos, retain))


def device(**config: object) -> tuple[MqttDevice, Recorder]:
    recorder = Recorder()
    return MqttDevice(MqttNotifier.model_validate({"type": "mqtt", **config}), recorder), recorder


def outgoing(event: str = "alarm") -> Outgoing:
    alarm = alarms.raise_alarm(
        hub_id="post",
        seq=3,
        button="bank-1",
        event_id="e",
        site=Site("bank", "B"),
        registered=True,
        test=False,
        now=NOW,
    )
    alarm = alarms.add_press(alarms.escalate(alarm, 2, NOW), "bank-2", "f", NOW)
    return Outgoing("k", event, alarm_body(alarm, step=2, round=0), MESSAGE, None, "post")


async def test_placeholders_fill_topic_and_payload_and_json_braces_stay() -> None:
    """{site}, {alarm}, {level}, {state}, {kind} are filled; JSON braces are left alone; qos
    and retain as configured."""
    siren, recorder = device(
        topic="sites/{site}/siren",
        payload_on='{"state":"ON","alarm":"{alarm}","level":{level},"tune":"{kind}"}',
        qos=0,
        retain=True,
    )
    assert await siren.send(outgoing()) == "on: sites/bank/siren"
    assert recorder.sent == [
        ("sites/bank/siren", '{"state":"ON","alarm":"post-3","level":2,"tune":"holdup"}', 0, True)
    ]


async def test_one_message_per_button_and_default_json_payloads() -> None:
    """{button} in the topic: one message to each button of the alarm; without payloads, a JSON
    object saying on or off."""
    led, recorder = device(topic="led/{button}")
    await led.send(outgoing())
    await led.send(outgoing("clear"))
    sent = recorder.sent
    assert [topic for topic, *_ in sent] == ["led/bank-1", "led/bank-2"] * 2
    assert [json.loads(payload)["on"] for _, payload, *_ in sent] == [True, True, False, False]
    assert json.loads(sent[0][1]) == {
        "alarm": "post-3",
        "on": True,
        "level": 2,
        "state": "active",
        "kind": "holdup",
    }


async def test_trouble_is_a_one_shot_message() -> None:
    board, recorder = device(topic="board/{site}/{state}")
    trouble = Trouble(5, "tamper", "bank-2", "bank", TroubleState.OPEN, NOW, None, "")
    body = {"trouble": TroubleSnapshot.of(trouble).model_dump(mode="json"), "step": 1, "round": 0}
    await board.send(Outgoing("k", "trouble", body, MESSAGE, None, "post"))
    assert recorder.sent == [
        ("board/bank/trouble", json.dumps({"trouble": 5, "kind": "tamper", "on": True}), 1, False)
    ]
