"""The CPU floor of a press's MQTT work in the hub.

A process runs the hub's own MQTT adapter (`hub.broker.mqtt.MqttAdapter`: the hub's client on the
mqtt5 codec since 2026-12, paho before; manual acknowledgement, TCP_NODELAY, on asyncio) and does
for each press only what the hub does on the wire: receive it, PUBACK it, publish a retained alarm
object and the button's ack (QoS 1, each answered by the broker's PUBACK). No validation, no store,
no planning. Its CPU per press, next to the hub's at the same rate, tells how much of the hub's cost
is MQTT I/O that no change to the hub's own logic can remove.

    python -m simulator.bench.iofloor --port PORT --root ROOT     (prints `ready`, then on
                                                                   SIGTERM the presses handled)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Final

from devices.topics import Topics
from hub.broker.mqtt import MqttAdapter, MqttMessage, Subscription
from hub.clock import SystemClock
from hub.config import MqttSection
from simulator.bench.latency import press_payload
from simulator.bench.stats import ProcSample, cpu_percent
from simulator.bench.wire import WirePublisher
from simulator.broker import Mosquitto

ALARM_OBJECT: Final = json.dumps(
    {
        "id": "bench-1",
        "state": "active",
        "level": 0,
        "site": {
            "id": "pool-site-00001",
            "name": "Cơ sở pool-site-00001",
            "address": "",
            "phone": "",
        },
        "devices": ["pool-00001"],
        "press_count": 1,
        "raised_at": "2026-11-22T14:05:01.123Z",
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "outcome": None,
        "test": False,
        "unregistered": False,
        "last_press_at": "2026-11-22T14:05:01.123Z",
        "resolved_by": None,
        "note": None,
    }
).encode()
"""The size and shape of a real alarm object (hub.domain.views.alarm_json)."""


async def _serve(host: str, port: int, root: str) -> int:
    topics = Topics(root)
    handled = 0
    stop = asyncio.Event()
    adapter: MqttAdapter

    def on_message(message: MqttMessage) -> None:
        nonlocal handled
        handled += 1
        if message.delivery is not None:
            adapter.ack(message.delivery)  # written with the publications below: the cheapest
        button = message.topic.rsplit("/", 2)[-2]
        adapter.publish(topics.alarm(f"floor-{button}"), ALARM_OBJECT, qos=1, retain=True)
        ack = {"event": "e", "alarm": f"floor-{button}", "state": "received"}
        adapter.publish(topics.ack(button), json.dumps(ack), qos=1)

    adapter = MqttAdapter(
        MqttSection(host=host, port=port, root=root),
        client_id="bench-io-floor",
        status_topic=topics.hub_status("bench-io-floor"),
        version="0",
        subscriptions=[Subscription(topics.event("+"), 1)],
        clock=SystemClock(),
        on_message=on_message,
        on_connected=lambda session_present: None,
        on_disconnected=lambda reason: None,
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await adapter.start()
    if not await adapter.wait_subscribed(10):
        raise TimeoutError("the I/O floor could not subscribe")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await stop.wait()
    await adapter.stop()
    return handled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    args = parser.parse_args()
    handled = asyncio.run(_serve(args.host, args.port, args.root))
    sys.stdout.write(f"{handled}\n")


@dataclass(frozen=True, slots=True)
class IoFloor:
    rate: float
    presses: int
    handled: int
    cpu_percent: float
    cpu_us_per_press: float


def measure_io_floor(broker: Mosquitto, root: str, rate: float, seconds: float) -> IoFloor:
    """Presses at `rate` for `seconds` into the floor process; its CPU over the sending."""
    floor_root = f"{root}/io-floor"
    topics = Topics(floor_root)
    process = subprocess.Popen(  # noqa: S603  # this interpreter running this module
        [sys.executable, "-m", __name__, "--port", str(broker.port), "--root", floor_root],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the I/O floor process did not start")
        publisher = WirePublisher(broker.host, broker.port, "bench-io-floor-publisher")
        publisher.connect()
        total = int(rate * seconds)
        first = ProcSample.read(process.pid)
        began, sent = time.monotonic(), 0
        while sent < total:
            due = min(total, int((time.monotonic() - began) * rate) + 1)
            for number in range(sent, due):
                button = f"floor-{number % 1000:04d}"
                publisher.publish(topics.event(button), press_payload(f"f{number}", number), number)
            sent = due
            publisher.flush()
            publisher.poll(0)
            time.sleep(0.002)
        publisher.drain()
        time.sleep(0.2)  # the last presses' fan-out
        last = ProcSample.read(process.pid)
        publisher.close()
        process.send_signal(signal.SIGTERM)
        handled = int(process.communicate(timeout=30)[0].strip() or 0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return IoFloor(
        rate=rate,
        presses=total,
        handled=handled,
        cpu_percent=cpu_percent(first, last),
        cpu_us_per_press=round((last.cpu_s - first.cpu_s) / max(1, handled) * 1e6, 1),
    )


if __name__ == "__main__":
    main()
