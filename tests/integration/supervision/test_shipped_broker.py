"""The broker as shipped (config/mosquitto/mosquitto.conf) with the credentials `chuong registry
credentials` generates, around a real hub: identities that cannot be taken, vendor presses at
their vendors' QoS 0 kept for a restarting hub."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from simulator.broker import Mosquitto
from simulator.button import VirtualButton
from simulator.vendors import (
    VirtualDevice,
    VirtualEsphome,
    VirtualShellyGen1,
    VirtualShellyGen2,
    VirtualTasmota,
    VirtualZigbee2MQTT,
)
from tests.conftest import wait_for
from tests.integration.supervision.conftest import REGISTRY, as_user
from tests.integration.supervision.test_credentials import Raw, StartHub


async def test_a_buttons_password_cannot_take_the_hubs_session(
    shipped_secured: Mosquitto,
    credentials: tuple[Path, dict[str, str]],
    start_hub: StartHub,
    raw: Raw,
) -> None:
    """bank-2's password with the hub's client id (`chuong-hub-<hub id>`, the prefix of every
    alarm id), with its user name and with its telemetry user's as client id, again and again,
    while bank-1 presses: the hub is never knocked off (`/readyz` 200 each time, each of its two
    connections made once), every press of bank-1 is recorded and acknowledged `received`."""
    _, passwords = credentials
    broker = shipped_secured
    hub_user = as_user(broker, "hub-post", passwords["hub-post"], passwords["hub-post-telemetry"])
    running = await start_hub(REGISTRY, **hub_user)
    assert running.hub.mqtt is not None
    telemetry = running.hub.telemetry
    assert telemetry is not None
    await wait_for(lambda: telemetry.subscribed, 10)
    connections = running.hub.mqtt._connection, telemetry._connection
    button = VirtualButton(
        "bank-1",
        host=broker.host,
        port=broker.port,
        username="bank-1",
        password=passwords["bank-1"],
    )
    await button.connect()
    health = running.api(None)
    try:
        for n in range(20):
            client_id = ("chuong-hub-post", "hub-post", "hub-post-telemetry")[n % 3]
            intruder = await raw("bank-2", passwords["bank-2"], to=broker, client_id=client_id)
            assert intruder.connect_reason == 0
            press = await button.press()
            await button.wait_ack(press.event_id, timeout=10)
            intruder.close()
            assert (await health.get("/readyz")).status_code == 200
        now = running.hub.mqtt._connection, telemetry._connection
        assert now == connections, "the hub was knocked off"
        presses = await running.api().get("/api/v1/alarms", params={"limit": 100})
        assert sum(a["press_count"] for a in presses.json()) == 20
    finally:
        await button.close()


async def test_vendor_presses_at_qos_0_wait_for_a_restarting_hub(
    shipped_secured: Mosquitto, credentials: tuple[Path, dict[str, str]], start_hub: StartHub
) -> None:
    """One press each from a Shelly Button1, a Shelly Plus i4, a Tasmota, an ESPHome node and a
    Zigbee2MQTT bridge, all at QoS 0 (their firmwares' default; Tasmota knows no other), while
    the hub is stopped: all five are alarms once it is back (`queue_qos0_messages true`)."""
    _, passwords = credentials
    broker = shipped_secured
    hub_user = as_user(broker, "hub-post", passwords["hub-post"], passwords["hub-post-telemetry"])
    running = await start_hub(REGISTRY, **hub_user)
    assert running.hub.telemetry is not None  # the vendors' check-ins go there, presses not

    def login(user: str) -> dict[str, Any]:
        return {
            "host": broker.host,
            "port": broker.port,
            "username": user,
            "password": passwords[user],
            "qos": 0,
        }

    shelly = VirtualShellyGen1("shellybutton1-A4CF12", **login("quay-shelly"))
    plus = VirtualShellyGen2("shellyplusi4-a80321", **login("quay-plus"))
    tasmota = VirtualTasmota("tasmota_49A3BC", **login("quay-tasmota"))
    esphome = VirtualEsphome("quay-thuoc", **login("quay-esphome"))
    zigbee = VirtualZigbee2MQTT(**login("zigbee2mqtt"))
    devices: list[VirtualDevice] = [shelly, plus, tasmota, esphome, zigbee]
    for device in devices:
        await device.connect()
    try:
        await running.hub.stop()
        await shelly.press()
        await plus.press()
        await tasmota.press()
        await esphome.press()
        await zigbee.sos("sos-quay")
        for device in devices:
            await device.settle()  # the broker has them, while the hub is away
        again = await start_hub(REGISTRY, **hub_user)

        async def pressed() -> set[str]:
            return {device for alarm in await again.alarms() for device in alarm["devices"]}

        wanted = {"quay-shelly", "quay-plus", "quay-tasmota", "quay-esphome", "quay-zigbee"}
        await wait_for(lambda: _contains(pressed(), wanted), 20)
    finally:
        for device in devices:
            await device.close()


async def _contains(found: Awaitable[set[str]], wanted: set[str]) -> bool:
    return (await found) >= wanted
