"""Topic names of the MQTT contract, built and parsed in one place.

`Topics(root)` builds every topic of the contract; `parse_device_topic` recognises the three topics
a button publishes with one compiled pattern and tells a bad button id apart from a topic that is
not ours at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from devices.messages import is_button_id

DEFAULT_ROOT: Final = "chuong/v1"
_ROOT_RE: Final = re.compile(r"[^/#+\x00]+(?:/[^/#+\x00]+)*\Z")


class DeviceTopicKind(StrEnum):
    EVENT = "event"
    HEARTBEAT = "heartbeat"
    STATUS = "status"


class TopicError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def check_root(root: str) -> str:
    """A topic root: one or more non-empty levels, no wildcards, no leading or trailing slash."""
    if not _ROOT_RE.match(root):
        raise ValueError("must be topic levels separated by '/', without '+', '#' or empty levels")
    return root


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    button: str
    kind: DeviceTopicKind


class Topics:
    """All topics under one root (default `chuong/v1`)."""

    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = check_root(root)
        self._device_re = re.compile(rf"{re.escape(root)}/dev/([^/]*)/(event|heartbeat|status)\Z")

    def event(self, button: str) -> str:
        return f"{self.root}/dev/{button}/event"

    def heartbeat(self, button: str) -> str:
        return f"{self.root}/dev/{button}/heartbeat"

    def status(self, button: str) -> str:
        return f"{self.root}/dev/{button}/status"

    def ack(self, button: str) -> str:
        return f"{self.root}/dev/{button}/ack"

    def alarm(self, alarm_id: str) -> str:
        return f"{self.root}/alarms/{alarm_id}"

    def hub_status(self, hub_id: str) -> str:
        return f"{self.root}/hub/{hub_id}/status"

    @property
    def device_subscriptions(self) -> tuple[tuple[str, int], ...]:
        """What the hub subscribes to on one connection, with the QoS of each (heartbeats are
        QoS 0): a hub without a telemetry login. With one, `event_subscriptions` and
        `telemetry_subscriptions` split them between its two connections."""
        return (
            (f"{self.root}/dev/+/event", 1),
            (f"{self.root}/dev/+/status", 1),
            (f"{self.root}/dev/+/heartbeat", 0),
        )

    @property
    def event_subscriptions(self) -> tuple[tuple[str, int], ...]:
        """What the hub's persistent session subscribes to when a clean telemetry connection
        takes the heartbeats: the presses and the statuses (events, queued while it is away)."""
        return ((f"{self.root}/dev/+/event", 1), (f"{self.root}/dev/+/status", 1))

    @property
    def telemetry_subscriptions(self) -> tuple[tuple[str, int], ...]:
        """What the telemetry connection subscribes to: the heartbeats, never queued."""
        return ((f"{self.root}/dev/+/heartbeat", 0),)

    def parse_device_topic(self, topic: str) -> DeviceTopic | None:
        """The button and kind of a button topic; None if the topic is not a button topic.

        Raises `TopicError("invalid_button_id", …)` for a button topic whose id is malformed.
        """
        match = self._device_re.match(topic)
        if match is None:
            return None
        button, kind = match.group(1), match.group(2)
        if not is_button_id(button):
            raise TopicError(
                "invalid_button_id", f"{button[:80]!r} does not match the button id pattern"
            )
        return DeviceTopic(button, DeviceTopicKind(kind))
