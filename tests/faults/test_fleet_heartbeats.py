"""A fleet's heartbeats while the hub is down cost no press.

The shipped broker queues QoS 0 messages for an absent client (`queue_qos0_messages true`, for the
vendors' QoS 0 presses), and Mosquitto 2.0.11 stops delivering a returning client's queue once it
has sent as many queued QoS 0 messages as the client's Receive Maximum (docs/BROKER.md): a fleet's
heartbeats queued in the hub's persistent session would stall the press queued behind them. The
hub therefore takes the heartbeats on a second connection, a clean session with its own broker
user, and its persistent session holds only presses and statuses.

The test lowers the hub's Receive Maximum to 1,000, so that the 20,000 heartbeats of `make test`
would stall the press if they were queued in its session (100,000 in `make proof`, with the hub
down 60 s)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.config import MqttSection, SupervisionSection
from hub.registry.file import ButtonEntry, RegistryFile, SiteEntry
from simulator.broker import Mosquitto
from tests.conftest import RunningHub, wait_for
from tests.integration.supervision.shipped import shipped_with_users

StartHub = Callable[..., Awaitable[RunningHub]]

HEARTBEATS = int(os.environ.get("PROOF_HEARTBEATS", "20000"))
"""20,000 in `make test`, 100,000 in `make proof`."""
FLEET = 1000
OUTAGE_S = float(os.environ.get("PROOF_OUTAGE_S", "5"))
"""5 s in `make test`; `make proof` keeps the hub down 60 s."""
RECEIVE_MAXIMUM = 1000
"""Far below the heartbeats queued: a session holding them would stall the press."""


@pytest.fixture
def fleet_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """The shipped config; users `hub`, its telemetry user and `fleet` (publishes for any
    button)."""
    users = {"hub": "hubsecret", "hub-telemetry": "beatsecret", "fleet": "fleetsecret"}
    broker = shipped_with_users(tmp_path / "fleet", users).start()
    yield broker
    broker.kill()


def hub_login(broker: Mosquitto, *, telemetry: bool) -> dict[str, Any]:
    """`start_hub` keywords: the hub as `hub`, with its telemetry login or (as a hub configured
    before it had one) without."""
    mqtt = MqttSection(
        port=broker.port,
        username="hub",
        password="hubsecret",
        telemetry_password="beatsecret" if telemetry else None,
        receive_maximum=RECEIVE_MAXIMUM,
        reconnect_min_s=0.1,
        reconnect_max_s=1.0,
    )
    return {"mqtt": mqtt, "supervision": SupervisionSection(offline_after_s=3600)}


async def test_a_fleets_heartbeats_while_the_hub_is_down_cost_no_press(
    fleet_broker: Mosquitto, start_hub: StartHub
) -> None:
    """A hub that first ran without a telemetry login (its session subscribed to the
    heartbeats, as every earlier hub's was) is started with one, then stopped. HEARTBEATS
    heartbeats of FLEET buttons and then a press are published while it is down for at least
    OUTAGE_S. Back, the hub records the press; none of the heartbeats was queued for it (no
    button but the one that pressed is known); a heartbeat sent now is heard at once, on the
    telemetry connection."""
    broker = fleet_broker
    registry = RegistryFile(
        sites=[SiteEntry(id="town", name="Thị trấn")],
        buttons=[ButtonEntry(id=f"hb-{n:05d}", site="town") for n in range(FLEET)],
    )
    old = await start_hub(registry, **hub_login(broker, telemetry=False))
    assert old.hub.telemetry is None  # heartbeats on the persistent session, as before
    await old.hub.stop()
    upgraded = await start_hub(registry, **hub_login(broker, telemetry=True))
    assert upgraded.hub.telemetry is not None
    await wait_for(lambda: upgraded.hub.telemetry is not None and upgraded.hub.telemetry.subscribed)
    await upgraded.hub.stop()  # its first connection took the heartbeats off the session
    down_at = time.monotonic()
    fleet = paho.Client(CallbackAPIVersion.VERSION2, client_id="fleet", protocol=paho.MQTTv5)
    fleet.username_pw_set("fleet", "fleetsecret")
    fleet.connect(broker.host, broker.port)
    fleet.loop_start()
    try:
        for n in range(HEARTBEATS):
            topic = f"chuong/v1/dev/hb-{n % FLEET:05d}/heartbeat"
            fleet.publish(topic, f'{{"uptime_s": {n // FLEET}}}', qos=0)
            if n % 10_000 == 0:
                await asyncio.sleep(0)
        press = fleet.publish(
            "chuong/v1/dev/hb-00000/event", '{"id": "after-the-fleet", "type": "press"}', qos=1
        )
        await wait_for(press.is_published, 120)
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        back_at = time.monotonic()
        again = await start_hub(registry, subscribed_within=60, **hub_login(broker, telemetry=True))

        async def alarmed() -> bool:
            return any("hb-00000" in alarm["devices"] for alarm in await again.alarms())

        await wait_for(alarmed, 60)
        took = time.monotonic() - back_at
        assert again.hub.pipeline is not None
        devices = again.hub.pipeline.state.devices
        assert sorted(devices) == ["hb-00000"], "heartbeats were queued for the absent hub"

        telemetry = again.hub.telemetry
        assert telemetry is not None
        await wait_for(lambda: telemetry.subscribed, 30)
        fleet.publish("chuong/v1/dev/hb-00001/heartbeat", '{"battery": 15}', qos=0)

        def heard() -> bool:
            device = devices.get("hb-00001")
            return device is not None and device.battery == 15

        await wait_for(heard, 30)
    finally:
        fleet.disconnect()
        fleet.loop_stop()
    print(f"{HEARTBEATS} heartbeats sent while the hub was down: the press came {took:.1f} s after")
