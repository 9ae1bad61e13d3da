"""The district's receiver, before the store: what it lets wait in memory."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from hub.broker.mqtt import MqttAdapter, MqttMessage
from hub.clock import SystemClock
from hub.config import Config
from hub.domain.inbound import Delivery
from hub.metrics import Metrics
from hub.store import Store
from hub.upstream.district import QOS0_WAITING_MAX, DistrictReceiver
from hub.writer.pipeline import Pipeline


def message(qos: int) -> MqttMessage:
    delivery = cast(Delivery, object()) if qos else None
    return MqttMessage("chuong/v1/up/xa-a/change", b"{}", qos, False, datetime.now(UTC), delivery)


def test_qos0_messages_beyond_the_limit_are_dropped_and_counted() -> None:
    """A post sending at QoS 0 escapes the broker's brake: beyond QOS0_WAITING_MAX waiting, such
    a message is dropped and counted; QoS 1 messages (what posts send) are never dropped here."""
    metrics = Metrics()
    config = Config.model_validate({"hub": {"id": "district", "mode": "district"}})
    unused: Any = None
    receiver = DistrictReceiver(
        config=config,
        store=cast(Store, unused),
        pipeline=cast(Pipeline, unused),
        clock=SystemClock(),
        metrics=metrics,
        mqtt=cast(MqttAdapter, unused),
    )
    for _ in range(QOS0_WAITING_MAX + 5):
        receiver.handle(message(0))
    receiver.handle(message(1))
    assert receiver._queue.qsize() == QOS0_WAITING_MAX + 1
    overflow = metrics.rejected.labels("upstream_overflow")._value.get()
    assert overflow == 5
