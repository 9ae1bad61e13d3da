"""Zigbee buttons through a Zigbee2MQTT bridge: `<base>/<friendly name>` (base `zigbee2mqtt`).

    <base>/<name>                {"action": "single", "battery": 97, "linkquality": 120, …}
                                 SOS buttons: "action": "emergency" (TuYa TS0215A_sos, BT400B) or
                                 "sos": true (Feibit SEB01ZB, with "tamper" and "battery_low")
    <base>/<name>/availability   {"state": "online"} (2.0) or online / offline (1.x)
    <base>/bridge/state          the bridge's own availability, in the same two forms

The native id is the friendly name (one topic level: no '/'). A registry entry with native id
`bridge` supervises the bridge itself: when it is down, every Zigbee button is.

Zigbee devices sleep; the bridge reports a battery device unavailable after 25 h by default (and
only with `availability` on), so supervision is by check-in: any report counts. The bridge, not
the button, connects to the broker: it has one MQTT user (`zigbee2mqtt`) for all its devices.

A shared Zigbee network carries remotes and sensors that are not panic buttons: an action from a
device the registry does not know raises an alarm only when it is itself a call for help
(`emergency`, `sos`, `panic`, or `"sos": true`); other actions are rejected with the reason.
`"sos": true` and `"tamper": true` stay true in the device's later reports, so only a change to
true is a new event. `last_seen` (when `advanced.last_seen` is set) identifies a press.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final

from devices.messages import EventType, WireError, load_json_object
from devices.profiles.base import (
    DeviceAcl,
    Power,
    Profile,
    ProfileName,
    ProfileSettings,
    Received,
    Supervised,
    VendorMessage,
    VendorStatus,
    checkin,
    epoch_time,
    event_id,
    percent,
    plausible,
    press,
    received_ms,
    text,
)

DEFAULT_BASE: Final = ProfileSettings().zigbee2mqtt_base
BRIDGE: Final = "bridge"
SOS_ACTIONS: Final = frozenset({"emergency", "sos", "panic"})
ACTIONS: Final = {
    "single": EventType.PRESS,
    "press": EventType.PRESS,
    "double": EventType.DOUBLE_PRESS,
    "triple": EventType.PRESS,
    "quadruple": EventType.PRESS,
    "many": EventType.PRESS,
    "hold": EventType.LONG_PRESS,
    "long": EventType.LONG_PRESS,
}
NOT_PRESSES: Final = ("release", "stop")
"""`release` after `hold`, `brightness_stop`…: the press they end was already reported."""


class Zigbee2Mqtt(Profile):
    name: ClassVar[ProfileName] = "zigbee2mqtt"
    tag: ClassVar[str] = "z2m"
    supervised: ClassVar[Supervised] = Supervised(Power.BATTERY, 25 * 3600, sleep_will=False)
    per_device_users: ClassVar[bool] = False

    def __init__(self, base_topic: str = DEFAULT_BASE) -> None:
        super().__init__()
        self.base = base_topic
        self._topic_re = re.compile(rf"{re.escape(base_topic)}/([^/]+)(/availability|/state)?\Z")

    @classmethod
    def make(cls, settings: ProfileSettings) -> Profile:
        return cls(settings.zigbee2mqtt_base)

    def subscriptions(self) -> tuple[tuple[str, int], ...]:
        return (
            (f"{self.base}/+", 1),
            (f"{self.base}/+/availability", 1),
            (f"{self.base}/{BRIDGE}/state", 1),
        )

    def native_id_of(self, topic: str) -> str | None:
        match = self._topic_re.match(topic)
        if match is None:
            return None
        name, suffix = match.group(1), match.group(2)
        if (suffix == "/state") != (name == BRIDGE):  # only the bridge has a `state` topic
            return None
        return name

    def translate(self, message: Received) -> list[VendorMessage]:
        match = self._topic_re.match(message.topic)
        if match is None:
            return []
        if match.group(2):
            return [_availability(message.payload)]
        return self._report(message, load_json_object(message.payload))

    def _report(self, message: Received, body: dict[str, Any]) -> list[VendorMessage]:
        native, at = message.native_id, message.received_at
        battery = percent(body.get("battery"))
        seen = epoch_time(body.get("last_seen"))
        stamp = f"{seen.timestamp():.3f}" if plausible(seen, at) and seen else received_ms(at)
        found: list[VendorMessage] = []
        action = body.get("action")
        kind = _action_kind(action) if isinstance(action, str) and action else None
        if kind is not None:
            assert isinstance(action, str)
            word = action.lower()
            known = word in ACTIONS or word in SOS_ACTIONS
            found.append(
                press(
                    kind,
                    event_id(self.tag, action, stamp),
                    action=action,
                    ts=seen,
                    battery=battery,
                    sos=word in SOS_ACTIONS,
                    anomaly=None if known else f"Zigbee action {action[:30]!r} taken as a press",
                )
            )
        for flag, kind, sos in (
            ("sos", EventType.PRESS, True),
            ("tamper", EventType.TAMPER, False),
        ):
            value = body.get(flag)
            if not isinstance(value, bool):
                continue
            before = self.memory.swap(native, flag, value)
            if value and before is not True:
                ident = event_id(self.tag, flag, stamp)
                found.append(press(kind, ident, action=flag, ts=seen, battery=battery, sos=sos))
        return found or [checkin(battery=battery)]

    def device_acl(self, native_id: str) -> DeviceAcl:
        return DeviceAcl()  # the bridge publishes for its devices

    def bridge_acls(self) -> dict[str, DeviceAcl]:
        topics = (f"{self.base}/#",)
        return {"zigbee2mqtt": DeviceAcl(write=topics, read=topics)}


def _action_kind(action: str) -> EventType | None:
    word = action.lower()
    if word in SOS_ACTIONS:
        return EventType.PRESS
    if word in ACTIONS:
        return ACTIONS[word]
    if any(word == stop or word.endswith(f"_{stop}") for stop in NOT_PRESSES):
        return None
    return EventType.PRESS  # a registered panic button's every action is a call


def _availability(payload: bytes) -> VendorStatus:
    raw = text(payload)
    word: object = raw.lower()
    if raw.startswith("{"):
        word = load_json_object(payload).get("state")
    if word in ("online", "offline"):
        return VendorStatus(word == "online")
    raise WireError("invalid_field", "availability: expected online or offline")
