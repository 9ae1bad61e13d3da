"""`MqttAdapter.read_retained` against a real Mosquitto: every retained message arrives before the
read is declared complete, and the hub's own live publications do not come back."""

from __future__ import annotations

from pathlib import Path

from hub.broker.mqtt import MqttAdapter, MqttMessage, Subscription
from hub.clock import SystemClock
from hub.config import MqttSection
from simulator.broker import Mosquitto
from simulator.load import LoadPublisher

RETAINED = 2_000


async def test_every_retained_message_arrives_before_the_read_completes(tmp_path: Path) -> None:
    """2,000 retained alarms (a broker without persistence: it takes them quickly): when the
    read's future says True, all 2,000 have already reached `on_message`, flagged retained. A
    live publication by the hub itself on one of the topics afterwards is not echoed back."""
    broker = Mosquitto(tmp_path / "mosquitto", persistence=False).start()
    seen: list[MqttMessage] = []
    adapter = MqttAdapter(
        MqttSection(port=broker.port, reconnect_min_s=0.1, reconnect_max_s=0.2),
        client_id="read-test",
        status_topic="chuong/v1/hub/read-test/status",
        version="test",
        subscriptions=[Subscription("chuong/v1/dev/+/event", 1)],
        clock=SystemClock(),
        on_message=seen.append,
        on_connected=lambda session_present: None,
        on_disconnected=lambda why: None,
    )
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    try:
        await publisher.connect()
        for n in range(RETAINED):
            publisher.publish_raw(f"chuong/v1/alarms/post-{n}", b'{"state": "active"}', retain=True)
        assert await publisher.drain(60)
        await adapter.start()
        assert await adapter.wait_subscribed(15)

        assert await adapter.read_retained("chuong/v1/alarms/+")
        complete = len(seen)
        assert complete == RETAINED
        assert all(m.retain and m.qos == 0 for m in seen)

        adapter.publish("chuong/v1/alarms/post-0", b'{"state": "acknowledged"}', retain=True)
        assert await adapter.read_retained("chuong/v1/alarms/+")  # after the publication
        again = seen[complete:]
        assert len(again) == RETAINED, "the live publication came back (No Local not honoured)"
        assert {m.payload for m in again if m.topic.endswith("/post-0")} == {
            b'{"state": "acknowledged"}'
        }
    finally:
        await adapter.stop()
        await publisher.close()
        broker.kill()


async def test_a_read_without_a_connection_says_false() -> None:
    """Nothing to read from a broker the hub is not connected to: the future is False at once."""
    adapter = MqttAdapter(
        MqttSection(port=1, reconnect_min_s=0.1, reconnect_max_s=0.2),
        client_id="read-test",
        status_topic="chuong/v1/hub/read-test/status",
        version="test",
        subscriptions=[],
        clock=SystemClock(),
        on_message=lambda message: None,
        on_connected=lambda session_present: None,
        on_disconnected=lambda why: None,
    )
    await adapter.start()
    try:
        assert not await adapter.read_retained("chuong/v1/alarms/+")
    finally:
        await adapter.stop()
