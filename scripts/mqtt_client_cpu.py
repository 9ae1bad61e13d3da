"""CPU per received QoS 1 message, manual PUBACK: paho-mqtt against the hub's own client
(hub/broker/wire.py under `MqttAdapter`). docs/BENCHMARKS.md, "The MQTT client's CPU per message".

A private Mosquitto (no persistence) holds MESSAGES QoS 1 presses queued for a persistent session;
the client under test connects to that session and drains them, acknowledging each one as it
arrives (the broker sends at most 100 before their PUBACKs, `max_inflight_messages`). What is
reported is this process's CPU time (`time.process_time`) from the connection to the last
message, divided by the messages: CPU, not latency, so a loaded machine changes it little.

    .venv/bin/python scripts/mqtt_client_cpu.py [MESSAGES [ROUNDS]]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from hub.broker.mqtt import MqttAdapter, MqttMessage, Subscription
from hub.clock import SystemClock
from hub.config import MqttSection
from simulator.bench.latency import press_payload
from simulator.bench.wire import WirePublisher
from simulator.broker import Mosquitto

FILTER = "bench/+/event"


def _queue(broker: Mosquitto, count: int) -> None:
    publisher = WirePublisher(broker.host, broker.port, "cpu-bench-publisher")
    publisher.connect()
    for number in range(count):
        publisher.publish(
            f"bench/b-{number % 1000:04d}/event", press_payload(f"p{number}", number), number
        )
        if number % 1000 == 999:
            publisher.flush()
    publisher.flush()
    if not publisher.drain(120):
        raise RuntimeError("the broker did not take the presses")
    publisher.close()


def _session() -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600  # the session outlives each round's connection
    return props


def _paho(broker: Mosquitto, client_id: str, count: int) -> float:
    """paho 2.x as the hub used it: MQTT v5, manual_ack, PUBACK from the message callback."""
    received = 0

    def on_message(client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        nonlocal received
        received += 1
        client.ack(message.mid, message.qos)

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, manual_ack=True
    )
    client.on_message = on_message
    start = time.process_time()
    client.connect(broker.host, broker.port, clean_start=False, properties=_session())
    deadline = time.monotonic() + 300
    while received < count and time.monotonic() < deadline:
        client.loop(0.1)
    used = time.process_time() - start
    client.disconnect()
    if received < count:
        raise RuntimeError(f"paho received {received} of {count}")
    return used


def _subscribe_paho(broker: Mosquitto, client_id: str) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.connect(broker.host, broker.port, clean_start=True, properties=_session())
    client.subscribe([(FILTER, SubscribeOptions(qos=1))])
    client.loop_start()
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()


def _adapter(broker: Mosquitto, client_id: str, on_message: Callable[[MqttMessage], None]) -> Any:
    return MqttAdapter(
        MqttSection(host=broker.host, port=broker.port),
        client_id=client_id,
        status_topic=f"bench/hub/{client_id}/status",
        version="bench",
        subscriptions=[Subscription(FILTER, 1)],
        clock=SystemClock(),
        on_message=on_message,
        on_connected=lambda session_present: None,
        on_disconnected=lambda reason: None,
    )


async def _hub_client(broker: Mosquitto, client_id: str, count: int) -> float:
    """The hub's client: `MqttAdapter` on hub/broker/wire.py, PUBACK by `ack` per message."""
    done = asyncio.Event()
    received = 0
    adapter: MqttAdapter

    def on_message(message: MqttMessage) -> None:
        nonlocal received
        received += 1
        if message.delivery is not None:
            adapter.ack(message.delivery)
        if received >= count:
            done.set()

    adapter = _adapter(broker, client_id, on_message)
    start = time.process_time()
    await adapter.start()
    await asyncio.wait_for(done.wait(), 300)
    used = time.process_time() - start
    await adapter.stop()
    return used


async def _subscribe_hub(broker: Mosquitto, client_id: str) -> None:
    adapter = _adapter(broker, client_id, lambda message: None)
    await adapter.start()
    if not await adapter.wait_subscribed(10):
        raise RuntimeError("the hub's client did not subscribe")
    await adapter.stop()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    results: dict[str, list[float]] = {"paho": [], "mqtt5": []}
    with tempfile.TemporaryDirectory() as work:
        broker = Mosquitto(Path(work) / "mosquitto", persistence=False).start()
        try:
            _subscribe_paho(broker, "cpu-bench-paho")
            asyncio.run(_subscribe_hub(broker, "cpu-bench-mqtt5"))
            for _ in range(rounds):
                _queue(broker, count)  # both sessions subscribe: each gets every press
                results["paho"].append(_paho(broker, "cpu-bench-paho", count) / count * 1e6)
                used = asyncio.run(_hub_client(broker, "cpu-bench-mqtt5", count))
                results["mqtt5"].append(used / count * 1e6)
        finally:
            broker.kill()
    for name, figures in results.items():
        shown = ", ".join(f"{f:.1f}" for f in figures)
        sys.stdout.write(
            f"{name}: {statistics.median(figures):.1f} µs CPU per message (median; {shown})\n"
        )


if __name__ == "__main__":
    main()
