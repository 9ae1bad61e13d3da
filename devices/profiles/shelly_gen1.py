"""Shelly gen1 (Button1, i3, and relays' inputs): `shellies/<id>/…`.

    shellies/<id>/input_event/<n>   {"event": "S", "event_cnt": 73}   S, SS, SSS, L, LS, SL; "" none
    shellies/<id>/online            true / false (the device's last will, retained)
    shellies/<id>/sensor/battery    0..100
    shellies/<id>/info              {"wifi_sta": {"rssi": -60}, "bat": {"value": 90}, …}
    shellies/<id>/announce          {"id": …, "fw_ver": …}

The native id is the device id in the topic (`shellybutton1-A4CF12F45174`). A Button1 on battery
sleeps between presses (its `online` goes false each time), wakes about every 12 hours, and stamps
nothing: supervision is by check-in, and presses carry the hub's receive time.

`event_cnt` counts the device's events. A message whose count equals the last one recorded for
that input is the same event published again (Shelly republishes its state, retained or on
reconnect), not a press; any other count is a new press, so a counter that wraps or restarts at a
reboot never hides one. The count is the press's `seq` and part of its id.
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
    short_text,
    text,
    whole,
)

_TOPIC_RE: Final = re.compile(
    r"shellies/([^/]+)/(input_event/(\d{1,2})|online|sensor/battery|info|announce)\Z"
)
EVENTS: Final = {
    "S": EventType.PRESS,
    "SS": EventType.DOUBLE_PRESS,
    "SSS": EventType.PRESS,
    "L": EventType.LONG_PRESS,
    "LS": EventType.LONG_PRESS,
    "SL": EventType.LONG_PRESS,
}


class ShellyGen1(Profile):
    name: ClassVar[ProfileName] = "shelly-gen1"
    tag: ClassVar[str] = "s1"
    supervised: ClassVar[Supervised] = Supervised(Power.BATTERY, 12 * 3600, sleep_will=True)

    def subscriptions(self) -> tuple[tuple[str, int], ...]:
        return (
            ("shellies/+/input_event/+", 1),
            ("shellies/+/online", 1),
            ("shellies/+/sensor/battery", 1),
            ("shellies/+/info", 0),
            ("shellies/+/announce", 0),
        )

    def checkins(self) -> tuple[str, ...]:
        return ("shellies/+/sensor/battery", "shellies/+/info", "shellies/+/announce")

    def native_id_of(self, topic: str) -> str | None:
        match = _TOPIC_RE.match(topic)
        return match.group(1) if match else None

    def translate(self, message: Received) -> list[VendorMessage]:
        match = _TOPIC_RE.match(message.topic)
        if match is None:
            return []
        kind, channel = match.group(2), match.group(3)
        if channel is not None:
            return self._input_event(message, int(channel))
        if kind == "online":
            return [online_word(message.payload, online="true", offline="false")]
        if kind == "sensor/battery":
            battery = percent(text(message.payload))
            if battery is None:
                raise WireError("invalid_field", "battery: expected a number 0-100")
            return [checkin(battery=battery)]
        body = load_json_object(message.payload)
        if kind == "info":
            wifi, bat = body.get("wifi_sta"), body.get("bat")
            rssi = whole(wifi.get("rssi"), -200, 50) if isinstance(wifi, dict) else None
            battery = percent(bat.get("value")) if isinstance(bat, dict) else None
            return [checkin(battery=battery, rssi=rssi)]
        return [checkin(fw=short_text(body.get("fw_ver")))]

    def _input_event(self, message: Received, channel: int) -> list[VendorMessage]:
        body = load_json_object(message.payload)
        event, count = body.get("event"), body.get("event_cnt")
        if not isinstance(event, str):
            raise WireError("invalid_field", "event: expected text")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise WireError("invalid_field", "event_cnt: expected a non-negative integer")
        if not event:  # an input without an event (after a boot, or a held button's release)
            return [checkin()]
        earlier = self.memory.swap(message.native_id, f"count/{channel}", count)
        if earlier is None:
            earlier = _count_in(message.last_event, channel)
        if earlier == count:
            return [checkin()]  # the same event again
        kind = EVENTS.get(event)
        anomaly = None if kind else f"unknown Shelly event {event[:20]!r} taken as a press"
        ident = event_id(self.tag, channel, count, received_ms(message.received_at))
        return [press(kind or EventType.PRESS, ident, action=event, seq=count, anomaly=anomaly)]

    def device_acl(self, native_id: str) -> DeviceAcl:
        return DeviceAcl(
            write=(f"shellies/{native_id}/#", "shellies/announce"),
            read=(f"shellies/{native_id}/command", "shellies/command"),
        )


def _count_in(last_event: str | None, channel: int) -> int | None:
    """The event counter inside an id this profile made (`s1-<channel>-<count>-<ms>`)."""
    if last_event is None:
        return None
    parts = last_event.split("-")
    if len(parts) == 4 and parts[0] == ShellyGen1.tag and parts[1] == str(channel):
        try:
            return int(parts[2])
        except ValueError:
            return None
    return None
