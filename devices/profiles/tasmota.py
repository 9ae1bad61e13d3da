"""Tasmota, with buttons detached from the relays (`SetOption73 1`): `stat/<topic>/…`.

    stat/<topic>/RESULT    {"Button1": {"Action": "SINGLE"}}   SINGLE, DOUBLE, TRIPLE, QUAD, PENTA,
                           HOLD (and, before Tasmota 9.1, {"ACTION": "SINGLE"}, also on BUTTON<n>)
    tele/<topic>/LWT       Online / Offline (the last will, retained)
    tele/<topic>/STATE     {"UptimeSec": …, "Wifi": {"Signal": -60, …}, …} every TelePeriod (300 s)

The native id is the device's `Topic` (FullTopic `%prefix%/%topic%/`, the default). RESULT also
carries command replies (`{"POWER": "ON"}`): only `Button<n>.Action` is a press, the rest are signs
of life. Tasmota stamps no id or time on an action: the id is made from the receive time.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final

from devices.messages import EventType, load_json_object
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
    press,
    received_ms,
    whole,
)

_TOPIC_RE: Final = re.compile(r"(stat|tele)/([^/]+)/([^/]+)\Z")
_BUTTON_TOPIC_RE: Final = re.compile(r"BUTTON(\d{1,2})\Z")
_BUTTON_KEY_RE: Final = re.compile(r"Button(\d{1,2})\Z")
ACTIONS: Final = {
    "SINGLE": EventType.PRESS,
    "DOUBLE": EventType.DOUBLE_PRESS,
    "TRIPLE": EventType.PRESS,
    "QUAD": EventType.PRESS,
    "PENTA": EventType.PRESS,
    "HOLD": EventType.LONG_PRESS,
}
NOT_PRESSES: Final = frozenset({"CLEAR"})
"""The release after HOLD: the press it ends was already reported."""


class Tasmota(Profile):
    name: ClassVar[ProfileName] = "tasmota"
    tag: ClassVar[str] = "ta"
    # STATE every TelePeriod (300 s): silence beyond that (plus grace) means it is gone even if
    # its connection lingers; its last will (keepalive 30 s) tells a lost connection in ~50 s.
    supervised: ClassVar[Supervised] = Supervised(Power.MAINS, 300, sleep_will=False)

    def subscriptions(self) -> tuple[tuple[str, int], ...]:
        # One filter for all of stat/ (RESULT, BUTTON<n>, POWER…): overlapping filters would
        # deliver a RESULT twice.
        return (("stat/+/+", 1), ("tele/+/LWT", 1), ("tele/+/STATE", 0))

    def checkins(self) -> tuple[str, ...]:
        return ("tele/+/STATE",)

    def native_id_of(self, topic: str) -> str | None:
        match = _TOPIC_RE.match(topic)
        if match is None:
            return None
        prefix, kind = match.group(1), match.group(3)
        return match.group(2) if prefix == "stat" or kind in ("LWT", "STATE") else None

    def translate(self, message: Received) -> list[VendorMessage]:
        match = _TOPIC_RE.match(message.topic)
        if match is None:
            return []
        kind = match.group(3)
        button = _BUTTON_TOPIC_RE.match(kind)
        if kind not in ("RESULT", "LWT", "STATE") and button is None:
            return [checkin()]  # POWER, STATUS…: signs of life
        if kind == "LWT":
            return [online_word(message.payload, online="Online", offline="Offline")]
        body = load_json_object(message.payload)
        if kind == "STATE":
            wifi = body.get("Wifi")
            signal = whole(wifi.get("Signal"), -200, 50) if isinstance(wifi, dict) else None
            return [checkin(rssi=signal, uptime_s=whole(body.get("UptimeSec"), 0, 2**62))]
        actions = _actions(body, int(button.group(1)) if button else 1)
        found: list[VendorMessage] = []
        for number, action in actions:
            if action.upper() in NOT_PRESSES:
                continue
            kind_of = ACTIONS.get(action.upper())
            anomaly = (
                None if kind_of else f"unknown Tasmota action {action[:20]!r} taken as a press"
            )
            ident = event_id(self.tag, number, action, received_ms(message.received_at))
            found.append(press(kind_of or EventType.PRESS, ident, action=action, anomaly=anomaly))
        return found or [checkin()]

    def device_acl(self, native_id: str) -> DeviceAcl:
        return DeviceAcl(
            write=(f"stat/{native_id}/#", f"tele/{native_id}/#"),
            read=(f"cmnd/{native_id}/#", "cmnd/tasmotas/#"),
        )


def _actions(body: dict[str, Any], default_button: int) -> list[tuple[int, str]]:
    """(button number, action) pairs in a RESULT or BUTTON<n> message, in both forms."""
    found = []
    legacy = body.get("ACTION")
    if isinstance(legacy, str) and legacy:
        found.append((default_button, legacy))
    for key, value in body.items():
        match = _BUTTON_KEY_RE.match(key)
        if match and isinstance(value, dict):
            action = value.get("Action")
            if isinstance(action, str) and action:
                found.append((int(match.group(1)), action))
    return found
