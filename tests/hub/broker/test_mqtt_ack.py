"""The adapter's PUBACKs: queued in order, written when the pipeline flushes them, and only on
the connection their message came on."""

from __future__ import annotations

from typing import Any

import mqtt5

from hub.broker.mqtt import MqttAdapter
from hub.clock import SystemClock
from hub.config import MqttSection
from hub.domain.inbound import Delivery


class RecordingClient:
    """Stands in for the connection (hub/broker/wire.py): records what the adapter asks of it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def write(self, packet: bytes) -> None:
        decoded, _ = mqtt5.read(memoryview(packet))
        assert isinstance(decoded, mqtt5.PubAckPacket)
        self.calls.append(f"ack {decoded.packet_id}")

    def flush(self) -> None:
        self.calls.append("write")


def adapter_on(client: RecordingClient, connection: int) -> MqttAdapter:
    def ignore(*_: Any) -> None:
        return None

    adapter = MqttAdapter(
        MqttSection(),
        client_id="test",
        status_topic="chuong/v1/hub/test/status",
        version="0",
        subscriptions=[],
        clock=SystemClock(),
        on_message=ignore,
        on_connected=ignore,
        on_disconnected=ignore,
    )
    adapter._conn = client  # type: ignore[assignment]
    adapter._connection = connection
    adapter.connected = True
    return adapter


def test_pubacks_are_queued_in_order_and_written_by_flush() -> None:
    """The batch's PUBACKs are queued in the order given and written by one flush, before the
    pipeline publishes the batch's events (which the fan-out turns into publications)."""
    client = RecordingClient()
    adapter = adapter_on(client, connection=3)
    adapter.ack(Delivery(mid=7, qos=1, connection=3))
    adapter.ack(Delivery(mid=8, qos=1, connection=3))
    adapter.flush()
    assert client.calls == ["ack 7", "ack 8", "write"]


def test_flush_without_a_connection_writes_nothing() -> None:
    client = RecordingClient()
    adapter = adapter_on(client, connection=3)
    adapter.connected = False
    adapter.flush()
    assert client.calls == []


def test_a_puback_for_an_earlier_connection_is_not_sent() -> None:
    """After a reconnect the broker resends what was not acknowledged, with the old packet ids;
    acking an old id on the new connection could acknowledge the wrong message."""
    client = RecordingClient()
    adapter = adapter_on(client, connection=4)
    adapter.ack(Delivery(mid=7, qos=1, connection=3))
    adapter.connected = False
    adapter.ack(Delivery(mid=8, qos=1, connection=4))
    assert client.calls == []
