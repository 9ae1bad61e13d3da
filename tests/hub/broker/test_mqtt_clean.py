"""The adapter's clean connection (the hub's telemetry connection): nothing is kept for it while
it is away, it says nothing about the hub, and it never hands the pipeline a delivery to PUBACK
(the PUBACKs after commit belong to the hub's own session)."""

from __future__ import annotations

import asyncio

from hub.broker.mqtt import Login, MqttAdapter, MqttMessage, Subscription
from hub.clock import SystemClock
from hub.config import MqttSection
from simulator.broker import Mosquitto
from tests.conftest import wait_for
from tests.integration.supervision.conftest import RawClient

TOPIC = "chuong/v1/dev/+/heartbeat"


def _clean(port: int, received: list[MqttMessage], qos: int = 0) -> MqttAdapter:
    return MqttAdapter(
        MqttSection(port=port, reconnect_min_s=0.1, reconnect_max_s=0.2),
        client_id="clean-test",
        status_topic="chuong/v1/hub/clean-test/status",
        version="test",
        subscriptions=[Subscription(TOPIC, qos)],
        clock=SystemClock(),
        on_message=received.append,
        on_connected=lambda session_present: None,
        on_disconnected=lambda why: None,
        clean=True,
        login=Login(None, None),
    )


async def test_nothing_waits_for_a_clean_connection_and_it_says_nothing_of_the_hub(
    broker: Mosquitto,
) -> None:
    """A heartbeat published while the clean connection is away is not delivered when it
    returns; one published while it is there is, without a delivery to acknowledge, even when
    the subscription (wrongly) asks for QoS 1; the hub's status topic stays empty."""
    watcher = RawClient(broker)
    await watcher.connect()
    await watcher.subscribe("chuong/v1/hub/#")
    received: list[MqttMessage] = []
    adapter = _clean(broker.port, received, qos=1)
    await adapter.start()
    assert await adapter.wait_subscribed(10)
    await adapter.stop()
    publisher = RawClient(broker)
    await publisher.connect()
    assert await publisher.publish("chuong/v1/dev/b-1/heartbeat", "{}") < 0x80  # while away
    again = _clean(broker.port, received, qos=1)
    await again.start()
    try:
        assert await again.wait_subscribed(10)
        assert await publisher.publish("chuong/v1/dev/b-2/heartbeat", "{}") < 0x80
        await wait_for(lambda: received != [], 10)
        await asyncio.sleep(0.3)
        assert [m.topic for m in received] == ["chuong/v1/dev/b-2/heartbeat"]
        assert all(m.delivery is None for m in received)
        assert watcher.received == []
    finally:
        await again.stop()
        publisher.close()
        watcher.close()
