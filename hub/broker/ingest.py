"""Ingest: every message from the broker becomes a typed item for the pipeline, or a rejection.

Validate at the edge, never crash inside: the topic is matched with one compiled pattern and the
payload parsed by the contract's models (`devices.messages`). Anything that does not fit becomes a
`RejectedIn` with a short reason, which the pipeline records (and acknowledges) like any message.
`handle` never raises: even a bug here ends as a rejection with reason `internal_error`, kept with
its payload, rather than a crash that would bring the same message back forever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from devices.messages import DeviceStatus, Heartbeat, PressEvent, WireError
from devices.topics import DeviceTopic, DeviceTopicKind, TopicError, Topics
from hub.broker.mqtt import MqttMessage
from hub.broker.vendors import VendorRouter
from hub.domain.inbound import HeartbeatIn, IgnoredIn, Inbound, PressIn, RejectedIn, StatusIn

log = logging.getLogger(__name__)

Submit = Callable[[Inbound], None]

RETAINED_PRESS_DETAIL = (
    "a retained press is a replay of the broker's retained copy, not a live press; "
    "configure the button to publish events without the retain flag"
)


REJECT_LOG_INTERVAL_S = 10.0
"""At most one log line per rejection reason in this interval: a flood must not flood the log.
Every rejection is still kept in the rejected log and counted in the metrics."""


class _RejectLog:
    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def note(self, topic: str, reason: str, detail: str) -> None:
        now = time.monotonic()
        if now - self._last.get(reason, -self._interval_s) < self._interval_s:
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        self._last[reason] = now
        suppressed = self._suppressed.pop(reason, 0)
        more = f" (and {suppressed} more like it since the last report)" if suppressed else ""
        log.warning("ingest: rejected a message on %s: %s: %s%s", topic[:200], reason, detail, more)


class Ingest:
    def __init__(self, topics: Topics, submit: Submit, vendors: VendorRouter | None = None) -> None:
        self._topics = topics
        self._submit = submit
        self._reject_log = _RejectLog(REJECT_LOG_INTERVAL_S)
        self._vendors = vendors
        self.closed = False

    def handle(self, message: MqttMessage) -> None:
        if self.closed:  # stopping: leave it unacknowledged, the broker delivers it again
            return
        try:
            items = self._translate(message)
        except Exception:
            log.exception("ingest: failed on a message on %s", message.topic)
            items = [
                self._reject(message, "internal_error", "the hub failed to read this message", None)
            ]
        for item in items:
            self._submit(item)

    def _translate(self, message: MqttMessage) -> list[Inbound]:
        if not message.topic_valid:
            return [self._reject(message, "invalid_topic", "the topic is not UTF-8", None)]
        try:
            topic = self._topics.parse_device_topic(message.topic)
        except TopicError as exc:
            return [self._reject(message, exc.reason, exc.detail, None)]
        if topic is None:
            return self._not_the_contracts(message)
        if topic.kind is DeviceTopicKind.HEARTBEAT and message.retain:
            return self._retained_heartbeat(message)
        try:
            return [self._device_message(topic, message)]
        except WireError as exc:
            return [self._reject(message, exc.reason, exc.detail, topic.button)]

    def _not_the_contracts(self, message: MqttMessage) -> list[Inbound]:
        """A vendor's topic, or one that is nobody's."""
        vendor_items = self._vendors.translate(message) if self._vendors else None
        if vendor_items is not None:
            return vendor_items
        return [self._reject(message, "unknown_topic", "not a topic of the contract", None)]

    @staticmethod
    def _retained_heartbeat(message: MqttMessage) -> list[Inbound]:
        """A replay from retention (the clean telemetry session gets it at every connection):
        not a sign of life now. Passed on only for its PUBACK, if it has one."""
        if message.delivery is None:
            return []
        return [IgnoredIn(message.topic, "retained", message.received_at, message.delivery)]

    def _device_message(self, topic: DeviceTopic, message: MqttMessage) -> Inbound:
        button = topic.button
        if topic.kind is DeviceTopicKind.EVENT:
            if message.retain:
                return self._reject(message, "retained", RETAINED_PRESS_DETAIL, button)
            event = PressEvent.parse(message.payload)
            return PressIn(
                button,
                event,
                message.received_at,
                message.delivery,
                topic=message.topic,
                payload=message.payload,
            )
        if topic.kind is DeviceTopicKind.HEARTBEAT:
            beat = Heartbeat.parse(message.payload)
            return HeartbeatIn(button, beat, message.received_at, message.delivery)
        status = DeviceStatus.parse(message.payload)
        item = StatusIn(button, status.online, message.received_at, message.delivery)
        if self._vendors is None:
            return item
        return self._vendors.canonical_status(item, message.topic, retained=message.retain)

    def _reject(
        self, message: MqttMessage, reason: str, detail: str, button: str | None
    ) -> RejectedIn:
        self._reject_log.note(message.topic, reason, detail)
        return RejectedIn(
            topic=message.topic,
            payload=message.payload,
            reason=reason,
            detail=detail,
            button=button,
            received_at=message.received_at,
            delivery=message.delivery,
        )
