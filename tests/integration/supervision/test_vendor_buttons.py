"""Off-the-shelf buttons against a real Mosquitto: their vendors' payloads become presses of the
registered buttons, statuses and check-ins; strangers on a shared Zigbee network raise only SOS."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from simulator.vendors import (
    VirtualShellyGen1,
    VirtualShellyGen2,
    VirtualTasmota,
    VirtualZigbee2MQTT,
)
from tests.conftest import RunningHub, wait_for
from tests.integration.supervision.conftest import (
    RawClient,
    heard,
    no_trouble,
    open_troubles,
    ticks,
    trouble,
    until,
)

Supervised = Callable[..., Awaitable[RunningHub]]
Raw = Callable[..., Awaitable[RawClient]]


async def alarm_presses(running: RunningHub) -> list[tuple[str, str]]:
    """(button, type) of every press recorded on the open alarms."""
    found = []
    for alarm in await running.alarms(state="active"):
        detail = (await running.api().get(f"/api/v1/alarms/{alarm['id']}")).json()
        found += [(p["button_id"], p["type"]) for p in detail["presses"]]
    return sorted(found)


async def test_virtual_vendor_buttons_press_as_their_registered_buttons(
    supervised: Supervised, broker: Any
) -> None:
    """A Shelly Button1, a Shelly Plus i4, a Tasmota and a Zigbee SOS button of the pharmacy,
    each speaking its vendor's payloads, come online and press: one alarm of the pharmacy with
    all four registered buttons in it."""
    running = await supervised()
    where = {"host": broker.host, "port": broker.port}
    devices = [
        VirtualShellyGen1("shellybutton1-A4CF12", **where),
        VirtualShellyGen2("shellyplusi4-a80321", **where),
        VirtualTasmota("tasmota_49A3BC", **where),
    ]
    bridge = VirtualZigbee2MQTT(**where)
    for device in [*devices, bridge]:
        await device.connect()
    try:
        for button_id in ("quay-shelly", "quay-plus", "quay-tasmota"):
            if button_id != "quay-shelly":  # a sleeping Button1's `online` is only a check-in
                await heard(running, button_id)
        await bridge.availability("sos-quay", online=True)
        await heard(running, "quay-zigbee")
        await devices[0].press("S")
        await devices[1].press("single_push")
        await devices[2].press("SINGLE")
        await bridge.sos("sos-quay", battery=64)

        async def four() -> bool:
            return len(await alarm_presses(running)) == 4

        await wait_for(four)
        [alarm] = await running.alarms(state="active")
        assert alarm["site"]["id"] == "pharmacy"
        assert sorted(alarm["devices"]) == [
            "quay-plus",
            "quay-shelly",
            "quay-tasmota",
            "quay-zigbee",
        ]
        assert alarm["unregistered"] is False
        await until(running, "quay-zigbee", lambda d: d.battery == 64)
    finally:
        for device in [*devices, bridge]:
            await device.go_offline()


FIXTURES: list[tuple[str, str | bytes, bool]] = [
    # (topic, payload, retained): the vendors' own examples (devices/profiles and their tests)
    ("shellies/shellybutton1-A4CF12/sensor/battery", "97", False),
    ("tele/tasmota_49A3BC/LWT", "Online", True),
    (
        "tele/tasmota_49A3BC/STATE",
        '{"UptimeSec":300,"Wifi":{"AP":1,"SSId":"post","RSSI":100,"Signal":-48}}',
        False,
    ),
    ("shellyplusi4-a80321/online", "true", True),
    (
        "shellyplusi4-a80321/status/devicepower:0",
        '{"id":0,"battery":{"V":3.82,"percent":79},"external":{"present":false}}',
        False,
    ),
    ("zigbee2mqtt/sos-quay/availability", '{"state":"online"}', True),
    ("quay-thuoc/status", "online", True),
    ("quay-thuoc/sensor/battery/state", "55", False),
    ("shellies/shellybutton1-A4CF12/input_event/0", '{"event":"L","event_cnt":73}', False),
    ("stat/tasmota_49A3BC/RESULT", '{"ACTION":"DOUBLE"}', False),
    ("zigbee2mqtt/sos-quay", '{"action":"emergency","battery":100,"linkquality":87}', False),
    ("quay-thuoc/event/panic/state", '{"event_type":"single"}', False),
]


async def test_each_profiles_fixture_payloads_become_the_right_records(
    supervised: Supervised, raw: Raw
) -> None:
    """Every profile's fixture payloads, published as the devices would: statuses make the
    buttons online, telemetry gives battery and signal, presses are recorded with their type."""
    running = await supervised()
    client = await raw()
    for topic, payload, retained in FIXTURES:
        assert await client.publish(topic, payload, retain=retained) == 0
    now = time.time()
    notify = {
        "src": "shellyplusi4-a80321",
        "method": "NotifyEvent",
        "params": {
            "ts": now,
            "events": [{"component": "input:1", "id": 1, "event": "long_push", "ts": now}],
        },
    }
    assert await client.publish("shellyplusi4-a80321/events/rpc", json.dumps(notify)) == 0

    async def presses_recorded() -> bool:
        return len(await alarm_presses(running)) == 5

    await wait_for(presses_recorded)
    assert await alarm_presses(running) == [
        ("quay-esphome", "press"),
        ("quay-plus", "long_press"),
        ("quay-shelly", "long_press"),
        ("quay-tasmota", "double_press"),
        ("quay-zigbee", "press"),
    ]
    state = running.hub.pipeline.state.devices  # type: ignore[union-attr]
    assert state["quay-shelly"].battery == 97
    assert (state["quay-tasmota"].online, state["quay-tasmota"].rssi) == (True, -48)
    assert (state["quay-plus"].online, state["quay-plus"].battery) == (True, 79)
    assert state["quay-zigbee"].online is True
    assert state["quay-zigbee"].battery == 100
    assert (state["quay-esphome"].online, state["quay-esphome"].battery) == (True, 55)
    rejected = (await running.api().get("/api/v1/rejected")).json()
    assert rejected == []


async def test_a_shelly_republishing_its_last_event_is_not_a_second_press(
    supervised: Supervised, broker: Any
) -> None:
    """Shelly publishes its last input event again on reconnect: same counter, no new press;
    a new counter is a new press on the same alarm."""
    running = await supervised()
    shelly = VirtualShellyGen1("shellybutton1-A4CF12", host=broker.host, port=broker.port)
    await shelly.connect()
    try:
        await shelly.press("S")
        await wait_for(lambda: len(running.hub.pipeline.state.alarms) == 1)  # type: ignore[union-attr]
        before = running.hub.pipeline.state.devices["quay-shelly"].last_seen  # type: ignore[union-attr]
        await shelly.republish("S")
        await until(running, "quay-shelly", lambda d: d.last_seen > before)
        [alarm] = await running.alarms(state="active")
        assert alarm["press_count"] == 1
        await shelly.press("SS")

        async def two() -> bool:
            return (await running.alarms(state="active"))[0]["press_count"] == 2

        await wait_for(two)
    finally:
        await shelly.go_offline()


async def test_strangers_on_a_shared_zigbee_network_raise_only_for_sos(
    supervised: Supervised, broker: Any
) -> None:
    """An unregistered remote's `single` is kept as rejected (`unregistered_device`), not an
    alarm; a lamp's report is nobody's business; an unregistered SOS button raises an alarm
    flagged unregistered, under an id made from its name."""
    running = await supervised()
    bridge = VirtualZigbee2MQTT(host=broker.host, port=broker.port)
    await bridge.connect()
    try:
        await bridge.press("ikea-remote", "single")
        await bridge.report("lamp", state="ON", brightness=254)
        await bridge.sos("sos-kitchen")

        async def alarm() -> bool:
            return len(await running.alarms()) == 1

        await wait_for(alarm)
        [raised] = await running.alarms()
        assert raised["devices"] == ["z2m-sos-kitchen"]
        assert raised["unregistered"] is True
        assert raised["site"] is None
        rejected = (await running.api().get("/api/v1/rejected")).json()
        assert [(r["reason"], r["topic"]) for r in rejected] == [
            ("unregistered_device", "zigbee2mqtt/ikea-remote")
        ]
        assert "ikea-remote" in rejected[0]["detail"]
    finally:
        await bridge.go_offline()


async def test_a_tasmota_losing_power_is_offline_and_a_sleeping_shelly_is_not(
    supervised: Supervised, broker: Any
) -> None:
    """Tasmota's last will (`Offline` on tele/LWT) is a fault: a trouble after the grace, and its
    return clears it. A Shelly Button1's `online` false is its sleep: no trouble."""
    running = await supervised()
    where = {"host": broker.host, "port": broker.port}
    tasmota = VirtualTasmota("tasmota_49A3BC", **where)
    shelly = VirtualShellyGen1("shellybutton1-A4CF12", **where)
    await tasmota.connect()
    await shelly.connect()
    await heard(running, "quay-tasmota")
    await heard(running, "quay-shelly")
    tasmota.kill()
    raised = await trouble(running, "offline", "quay-tasmota")
    assert raised["site_id"] == "pharmacy"
    await shelly.go_offline()
    await ticks(running, 10)
    assert ("offline", "quay-shelly") not in await open_troubles(running)
    assert running.hub.pipeline.state.devices["quay-shelly"].online is True  # type: ignore[union-attr]
    await tasmota.connect()
    await no_trouble(running, "offline", "quay-tasmota")
    await tasmota.go_offline()


async def test_a_retained_vendor_press_is_not_a_press_but_a_retained_status_counts(
    supervised: Supervised, raw: Raw
) -> None:
    """Left on the broker with the retain flag before the hub subscribes: Tasmota's last press is
    replayed to the new subscription and ignored; its retained `Online` makes it online."""
    client = await raw()
    press = '{"Button1":{"Action":"SINGLE"}}'
    # Accepted (0x10: nobody subscribed yet).
    assert await client.publish("stat/tasmota_49A3BC/RESULT", press, retain=True) < 0x80
    assert await client.publish("tele/tasmota_49A3BC/LWT", "Online", retain=True) < 0x80
    running = await supervised()
    await heard(running, "quay-tasmota")
    await ticks(running, 3)
    assert await running.alarms() == []
