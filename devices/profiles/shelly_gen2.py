"""Shelly gen2 and later (Plus i4, Plus 1…): RPC notifications on `<prefix>/events/rpc`.

    <prefix>/events/rpc              {"method": "NotifyEvent", "params": {"ts": …, "events": [
                                        {"component": "input:0", "id": 0, "event": "single_push",
                                         "ts": 1678882095.02}]}}
    <prefix>/online                  true / false (the last will, retained)
    <prefix>/status/devicepower:0    {"id": 0, "battery": {"V": 3.2, "percent": 80}, …}

The native id is the MQTT topic prefix (the device id by default, `shellyplusi4-a8032ab12345`; a
single topic level). `rpc_ntf` must be on. Presses are `single_push`, `double_push`,
`triple_push`, `long_push` of an `input:<n>` component; `btn_down`/`btn_up` and other components'
events are signs of life. Each event carries the device's time: with the clock set (SNTP), it
identifies the press, so a redelivered notification is a duplicate.
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
    Received,
    Supervised,
    VendorMessage,
    checkin,
    epoch_time,
    event_id,
    online_word,
    percent,
    plausible,
    press,
    received_ms,
)

_TOPIC_RE: Final = re.compile(r"([^/]+)/(events/rpc|online|status/devicepower:0)\Z")
EVENTS: Final = {
    "single_push": EventType.PRESS,
    "double_push": EventType.DOUBLE_PRESS,
    "triple_push": EventType.PRESS,
    "long_push": EventType.LONG_PRESS,
}


class ShellyGen2(Profile):
    name: ClassVar[ProfileName] = "shelly-gen2"
    tag: ClassVar[str] = "s2"
    supervised: ClassVar[Supervised] = Supervised(Power.MAINS, None, sleep_will=True)

    def subscriptions(self) -> tuple[tuple[str, int], ...]:
        return (("+/events/rpc", 1), ("+/online", 1), ("+/status/devicepower:0", 1))

    def checkins(self) -> tuple[str, ...]:
        return ("+/status/devicepower:0",)

    def native_id_of(self, topic: str) -> str | None:
        match = _TOPIC_RE.match(topic)
        return match.group(1) if match else None

    def translate(self, message: Received) -> list[VendorMessage]:
        match = _TOPIC_RE.match(message.topic)
        if match is None:
            return []
        kind = match.group(2)
        if kind == "online":
            return [online_word(message.payload, online="true", offline="false")]
        body = load_json_object(message.payload)
        if kind == "status/devicepower:0":
            return [checkin(battery=_battery(body))]
        method, params = body.get("method"), body.get("params")
        if not isinstance(params, dict):
            params = {}
        if method == "NotifyEvent":
            return self._events(message, params)
        return [checkin(battery=_battery(params.get("devicepower:0")))]

    def _events(self, message: Received, params: dict[str, Any]) -> list[VendorMessage]:
        events = params.get("events")
        if not isinstance(events, list):
            raise WireError("invalid_field", "params.events: expected a list")
        found: list[VendorMessage] = []
        for index, item in enumerate(events):
            if not isinstance(item, dict):
                raise WireError("invalid_field", f"params.events[{index}]: expected an object")
            component, event = item.get("component"), item.get("event")
            kind = EVENTS.get(event) if isinstance(event, str) else None
            if kind is None or not isinstance(component, str) or not component.startswith("input:"):
                continue  # btn_down, btn_up, config_changed…: signs of life
            device_time = epoch_time(item.get("ts", params.get("ts")))
            if plausible(device_time, message.received_at):
                assert device_time is not None
                ident = event_id(self.tag, component, event, f"{device_time.timestamp():.3f}")
            else:  # the clock is not set: the time would not tell two presses apart
                ident = event_id(
                    self.tag, component, event, received_ms(message.received_at), index
                )
            found.append(press(kind, ident, action=str(event), ts=device_time))
        return found or [checkin()]

    def device_acl(self, native_id: str) -> DeviceAcl:
        return DeviceAcl(
            write=(f"{native_id}/#",), read=(f"{native_id}/rpc", f"{native_id}/command")
        )


def _battery(value: object) -> int | None:
    if isinstance(value, dict):
        battery = value.get("battery")
        if isinstance(battery, dict):
            return percent(battery.get("percent"))
    return None
