"""A fleet's heartbeats while the hub is down cost no press: heartbeats (QoS 0) are queued for the
hub with the shipped broker config (`queue_qos0_messages true`, for the vendors' QoS 0 presses),
ahead of a press published after them; the press must still become an alarm."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.registry.file import ButtonEntry, RegistryFile, SiteEntry
from simulator.broker import Mosquitto
from tests.conftest import RunningHub, wait_for
from tests.integration.supervision.conftest import as_user
from tests.integration.supervision.shipped import shipped_with_users

StartHub = Callable[..., Awaitable[RunningHub]]

HEARTBEATS = int(os.environ.get("PROOF_HEARTBEATS", "20000"))
"""20,000 in `make test`, 60,000 in `make proof`: below the hub's receive maximum (65,535), beyond
which Mosquitto 2.0.11 stalls the queue of a reconnecting hub (docs/BROKER.md)."""
FLEET = 1000
OUTAGE_S = float(os.environ.get("PROOF_OUTAGE_S", "5"))
"""5 s in `make test`; `make proof` keeps the hub down 60 s."""


@pytest.fixture
def fleet_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """The shipped config; users `hub` and `fleet` (publishes for any button)."""
    broker = shipped_with_users(
        tmp_path / "fleet", {"hub": "hubsecret", "fleet": "fleetsecret"}
    ).start()
    yield broker
    broker.kill()


async def test_a_fleets_heartbeats_while_the_hub_is_down_cost_no_press(
    fleet_broker: Mosquitto, start_hub: StartHub
) -> None:
    """HEARTBEATS heartbeats of a fleet of FLEET buttons (QoS 0, queued for the hub since
    `queue_qos0_messages true`) while the hub is down for at least OUTAGE_S, then a press: the
    press is an alarm once the hub is back; the heartbeats took their place in the queue and
    cost it nothing but the time the hub takes to read them."""
    broker = fleet_broker
    registry = RegistryFile(
        sites=[SiteEntry(id="town", name="Thị trấn")],
        buttons=[ButtonEntry(id=f"hb-{n:05d}", site="town") for n in range(FLEET)],
    )
    hub_user = as_user(broker, "hub", "hubsecret")
    running = await start_hub(registry, **hub_user)
    await running.hub.stop()
    down_at = time.monotonic()
    fleet = paho.Client(CallbackAPIVersion.VERSION2, client_id="fleet", protocol=paho.MQTTv5)
    fleet.username_pw_set("fleet", "fleetsecret")
    fleet.connect(broker.host, broker.port)
    fleet.loop_start()
    try:
        for n in range(HEARTBEATS):
            topic = f"chuong/v1/dev/hb-{n % FLEET:05d}/heartbeat"
            fleet.publish(topic, f'{{"seq": {n // FLEET}}}', qos=0)
            if n % 10_000 == 0:
                await asyncio.sleep(0)
        press = fleet.publish(
            "chuong/v1/dev/hb-00000/event", '{"id": "after-the-fleet", "type": "press"}', qos=1
        )
        await wait_for(press.is_published, 120)
    finally:
        fleet.disconnect()
        fleet.loop_stop()
    await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    back_at = time.monotonic()
    # its SUBACK comes after the queue: 60,000 messages took 8 s on a loaded 2-core machine
    again = await start_hub(registry, subscribed_within=120, **hub_user)

    async def alarmed() -> bool:
        return any("hb-00000" in alarm["devices"] for alarm in await again.alarms())

    await wait_for(alarmed, 150)
    print(
        f"{HEARTBEATS} heartbeats queued: the press came"
        f" {time.monotonic() - back_at:.1f} s after the hub's start"
    )
