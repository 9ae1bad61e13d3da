"""Fan-out to MQTT: the retained alarm topics, the acks to buttons, after every commit.

- An open alarm is published retained on `{root}/alarms/{id}` at every change; when it is resolved,
  the resolved object is published (not retained) and then the retained copy is cleared with an
  empty retained payload.
- A button hears back on `{root}/dev/{button}/ack`: `received` as soon as its press is committed
  (again for a duplicate), then `acknowledged` and `resolved` as the officer acts.
- What a crash, an outage or a full outgoing queue kept from the broker is published again by the
  topic repair (hub/broker/repair.py), with the same two functions below.
"""

from __future__ import annotations

import json
from typing import Protocol

from devices.topics import Topics
from hub.domain.bus import AlarmChanged, Bus, ButtonAck, Event
from hub.domain.model import ACK_STATE, AckState, Alarm, AlarmChange, AlarmKind
from hub.domain.views import alarm_json


class Publisher(Protocol):
    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None: ...


def publish_alarm(publisher: Publisher, topics: Topics, alarm: Alarm) -> None:
    """An open alarm's retained state; a resolved one's last state, then its retained copy
    cleared."""
    topic = topics.alarm(alarm.id)
    if alarm.is_open:
        publisher.publish(topic, alarm_json(alarm), qos=1, retain=True)
    else:
        publisher.publish(topic, alarm_json(alarm), qos=1, retain=False)
        publisher.publish(topic, b"", qos=1, retain=True)


def publish_ack(
    publisher: Publisher, topics: Topics, button: str, event: str, alarm: str, state: AckState
) -> None:
    payload = json.dumps({"event": event, "alarm": alarm, "state": state})
    publisher.publish(topics.ack(button), payload, qos=1, retain=False)


def publish_acks(publisher: Publisher, topics: Topics, alarm: Alarm) -> int:
    """The current ack of each of the alarm's buttons; returns how many were published. A
    communication-loss alarm answers no press: its buttons hear nothing."""
    if alarm.kind is AlarmKind.COMM_LOSS:
        return 0
    for device in alarm.devices:
        publish_ack(
            publisher, topics, device.button, device.last_event, alarm.id, ACK_STATE[alarm.state]
        )
    return len(alarm.devices)


class MqttFanout:
    def __init__(self, *, bus: Bus, publisher: Publisher, topics: Topics) -> None:
        self._bus = bus
        self._publisher = publisher
        self._topics = topics

    async def start(self) -> None:
        self._bus.subscribe(self._on_event)

    async def stop(self) -> None:
        self._bus.unsubscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ButtonAck):
            publish_ack(
                self._publisher,
                self._topics,
                event.button,
                event.event_id,
                event.alarm_id,
                event.state,
            )
        elif isinstance(event, AlarmChanged):
            publish_alarm(self._publisher, self._topics, event.alarm)
            if event.change in (AlarmChange.ACKNOWLEDGED, AlarmChange.RESOLVED):
                publish_acks(self._publisher, self._topics, event.alarm)
