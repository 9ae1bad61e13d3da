"""mqtt: a siren, a strobe or a button's LED, switched over the hub's own MQTT connection.

A step that fires publishes `payload_on` (default: a JSON object) on the notifier's topic; when the
alarm is acknowledged or resolved, `payload_off`. Topic and payloads may contain `{alarm}`,
`{site}`, `{button}`, `{level}` and `{state}`; with `{button}` in the topic, one message goes to
each button of the alarm (its LED, for example). Other braces (JSON) are left as they are.

A device shared by several alarms (a topic without `{alarm}` or `{button}`) is switched off only
once no other active alarm needs it: the dispatcher checks that before it calls `send`.

"Delivered" means handed to the MQTT client, which sends QoS 1 messages when it is (re)connected.
"""

from __future__ import annotations

import json
import re
from typing import Final

from hub.broker.fanout import Publisher
from hub.config.notifiers import MqttNotifier
from hub.notify.base import Outgoing

_PLACEHOLDER: Final = re.compile(r"\{(alarm|site|button|level|state)\}")


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
            }
            buttons = list(alarm.devices)
            default = {"alarm": alarm.id, "on": on, "level": alarm.level, "state": alarm.state}
        else:  # a trouble
            trouble = outgoing.body["trouble"]
            values = {
                "alarm": "",
                "site": trouble.get("site_id") or "",
                "level": str(outgoing.body.get("step", 0)),
                "state": "trouble",
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
