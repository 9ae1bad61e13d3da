"""mqtt: a siren, a strobe or a button's LED, switched over the hub's own MQTT connection.

A step that fires publishes `payload_on` (default: a JSON object) on the notifier's topic; when the
alarm is acknowledged or resolved, `payload_off`. Topic and payloads may contain `{alarm}`,
`{site}`, `{button}`, `{level}`, `{state}` and `{kind}` (the alarm's kind: a siren can play a tune
per kind; empty for a trouble); with `{button}` in the topic, one message goes to each button of
the alarm (its LED, for example). Other braces (JSON) are left as they are.

A device shared by several alarms (a topic without `{alarm}` or `{button}`) is switched off only
once no other active alarm needs it: the dispatcher checks that before it calls `send`.

"Delivered" means handed to the MQTT client, which sends QoS 1 messages when it is (re)connected.
"""

from __future__ import annotations

import json
import re
from typing import Final, Literal

from pydantic import Field, field_validator

from hub.broker.fanout import Publisher
from hub.notify.base import NotifierKind, Outgoing
from hub.notify.settings import NotifierSettings, check_template


class MqttNotifier(NotifierSettings):
    """A siren, strobe or LED driven over the hub's own MQTT connection."""

    type: Literal["mqtt"]
    topic: str = Field(
        min_length=1,
        description="Topic; may contain {alarm}, {site}, {button} (one message per button of "
        "the alarm), {level}, {state}, {kind}.",
    )
    payload_on: str | None = Field(
        default=None, description="Payload when a step fires (default: a JSON object)."
    )
    payload_off: str | None = Field(
        default=None,
        description="Payload when the alarm is acknowledged or resolved (default: JSON).",
    )
    qos: Literal[0, 1] = 1
    retain: bool = Field(default=False, description="Retain, so a restarted device knows.")

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if any(c in value for c in "#+\x00"):
            raise ValueError("must not contain '#', '+' or NUL")
        return check_template(value)

    @field_validator("payload_on", "payload_off")
    @classmethod
    def _payload(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value)

    @field_validator("person")
    @classmethod
    def _no_person(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("an mqtt notifier drives a device and sends no link: remove person")
        return value

    @property
    def local(self) -> bool:
        return True

    @property
    def per_alarm(self) -> bool:
        """Its topic differs per alarm or button; otherwise several alarms share one device."""
        return "{alarm}" in self.topic or "{button}" in self.topic


_PLACEHOLDER: Final = re.compile(r"\{(alarm|site|button|level|state|kind)\}")


def fill(template: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


class MqttDevice:
    def __init__(self, config: MqttNotifier, publisher: Publisher) -> None:
        self._config = config
        self._publisher = publisher

    async def send(self, outgoing: Outgoing) -> str:
        cfg = self._config
        on = outgoing.event != "clear"
        alarm = outgoing.alarm
        if alarm is not None:
            values = {
                "alarm": alarm.id,
                "site": alarm.site.id if alarm.site else "",
                "level": str(alarm.level),
                "state": alarm.state.value,
                "kind": alarm.kind.value,
            }
            buttons = list(alarm.devices)
            default = {
                "alarm": alarm.id,
                "on": on,
                "level": alarm.level,
                "state": alarm.state,
                "kind": alarm.kind,
            }
        else:  # a trouble
            trouble = outgoing.body["trouble"]
            values = {
                "alarm": "",
                "site": trouble.get("site_id") or "",
                "level": str(outgoing.body.get("step", 0)),
                "state": "trouble",
                "kind": "",
            }
            buttons = [trouble["subject"]]
            default = {"trouble": trouble["id"], "kind": trouble["kind"], "on": on}
        template = cfg.payload_on if on else cfg.payload_off
        messages: dict[str, str] = {}
        for button in buttons if "{button}" in cfg.topic else [""]:
            here = {**values, "button": button}
            payload = fill(template, here) if template is not None else json.dumps(default)
            messages.setdefault(fill(cfg.topic, here), payload)
        for topic, payload in messages.items():
            self._publisher.publish(topic, payload, qos=cfg.qos, retain=cfg.retain)
        return f"{'on' if on else 'off'}: {', '.join(messages)}"

    async def close(self) -> None:
        return None


KIND: Final = NotifierKind(MqttNotifier, lambda config, tools: MqttDevice(config, tools.publisher))
"""The registry's entry (hub/notify/registry.py)."""
