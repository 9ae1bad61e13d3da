"""ESPHome devices speaking ESPHome's own MQTT topics (`mqtt:` with its default `topic_prefix`).

    <prefix>/status                        online / offline (birth and last will, retained)
    <prefix>/event/<name>/state            {"event_type": "single"}   (the `event` component)
    <prefix>/binary_sensor/<name>/state    ON / OFF                    (retained by default)
    <prefix>/sensor/<name>/state           a number (a sensor named `battery` gives the battery)

The native id is the topic prefix (the node name by default; one topic level). The `event`
component is the right way to report presses. A binary sensor is a state, retained: only its
OFF→ON edge is a press. The broker replays a retained ON to a new subscription (flagged retained,
dropped by the hub), and the device publishes its states again when it reconnects (unflagged):
an ON that follows an ON is the same press, not a new one. After a hub restart the earlier state
is unknown, and an ON counts as a press rather than risk losing one.

The reference DIY button (devices/esphome/) speaks the canonical contract instead, not this.
"""

from __future__ import annotations

import re
from typing import ClassVar, Final

from devices.messages import EventType, WireError, load_json_object
from devices.profiles.base import (
    DeviceAcl,
    Power,
    Profile,
    ProfileName,
    Received,
    Supervised,
    VendorMessage,
    checkin,
    event_id,
    online_word,
    percent,
    press,
    received_ms,
    text,
)

_TOPIC_RE: Final = re.compile(r"([^/]+)/(?:(status)|(event|binary_sensor|sensor)/([^/]+)/state)\Z")
NOT_PRESSES: Final = ("release", "released", "up", "btn_up")


def event_kind(event_type: str) -> EventType | None:
    """What an `event_type` means: None for a release, a press of some kind otherwise."""
    word = event_type.lower()
    if any(word.endswith(release) for release in NOT_PRESSES):
        return None
    if "double" in word:
        return EventType.DOUBLE_PRESS
    if "long" in word or "hold" in word:
        return EventType.LONG_PRESS
    return EventType.PRESS


class Esphome(Profile):
    name: ClassVar[ProfileName] = "esphome"
    tag: ClassVar[str] = "eh"
    supervised: ClassVar[Supervised] = Supervised(Power.MAINS, None, sleep_will=True)

    def subscriptions(self) -> tuple[tuple[str, int], ...]:
        return (
            ("+/status", 1),
            ("+/event/+/state", 1),
            ("+/binary_sensor/+/state", 1),
            ("+/sensor/+/state", 0),
        )

    def checkins(self) -> tuple[str, ...]:
        return ("+/sensor/+/state",)

    def native_id_of(self, topic: str) -> str | None:
        match = _TOPIC_RE.match(topic)
        return match.group(1) if match else None

    def translate(self, message: Received) -> list[VendorMessage]:
        match = _TOPIC_RE.match(message.topic)
        if match is None:
            return []
        if match.group(2):
            return [online_word(message.payload, online="online", offline="offline")]
        component, name = match.group(3), match.group(4)
        if component == "sensor":
            battery = percent(text(message.payload)) if "battery" in name.lower() else None
            return [checkin(battery=battery)]
        if component == "binary_sensor":
            return self._binary_sensor(message, name)
        return self._event(message, name)

    def _binary_sensor(self, message: Received, name: str) -> list[VendorMessage]:
        state = text(message.payload).upper()
        if state not in ("ON", "OFF"):
            raise WireError("invalid_field", f"binary sensor state: {state[:20]!r}")
        before = self.memory.swap(message.native_id, f"binary_sensor/{name}", state)
        if state == "OFF" or before == "ON":
            return [checkin()]
        ident = event_id(self.tag, name, received_ms(message.received_at))
        return [press(EventType.PRESS, ident, action=f"{name} ON")]

    def _event(self, message: Received, name: str) -> list[VendorMessage]:
        event_type = load_json_object(message.payload).get("event_type")
        if not isinstance(event_type, str) or not event_type:
            raise WireError("invalid_field", "event_type: expected text")
        kind = event_kind(event_type)
        if kind is None:
            return [checkin()]
        ident = event_id(self.tag, name, event_type, received_ms(message.received_at))
        return [press(kind, ident, action=event_type)]

    def device_acl(self, native_id: str) -> DeviceAcl:
        return DeviceAcl(write=(f"{native_id}/#",), read=(f"{native_id}/#",))
