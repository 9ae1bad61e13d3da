"""Alarm kinds end to end: a real Mosquitto, the hub in-process, virtual buttons (the contract's,
a Shelly Button1 and a Zigbee SOS button through a Zigbee2MQTT bridge) and loopback HTTP servers
standing in for the people each kind calls. Each kind follows its own policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from hub.registry.file import ButtonEntry, RegistryFile, SiteEntry
from simulator.broker import Mosquitto
from simulator.button import VirtualButton
from simulator.vendors import VirtualShellyGen1, VirtualZigbee2MQTT
from tests.conftest import RunningHub, wait_for
from tests.integration.escalation.conftest import press, webhook
from tests.integration.notify.loopback import HttpRecorder

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]
Recorders = Callable[[], HttpRecorder]

SHELLY, SOS = "shellybutton1-A4CF12", "sos-nha-thuoc"

REGISTRY = RegistryFile(
    sites=[
        SiteEntry(id="bank", name="Ngân hàng Phước Hòa"),
        SiteEntry(id="clinic", name="Trạm y tế"),
        SiteEntry(id="pharmacy", name="Nhà thuốc Minh Châu"),
    ],
    buttons=[
        ButtonEntry.model_validate(
            {"id": "bank-1", "site": "bank", "press_patterns": {"long_press": "fire"}}
        ),
        ButtonEntry(id="bank-2", site="bank"),
        ButtonEntry.model_validate({"id": "clinic-1", "site": "clinic", "kind": "medical"}),
        ButtonEntry(id="pharmacy-1", site="pharmacy", profile="shelly-gen1", native_id=SHELLY),
        ButtonEntry(id="pharmacy-sos", site="pharmacy", profile="zigbee2mqtt", native_id=SOS),
    ],
)


async def test_each_kind_follows_its_own_policy(
    start_hub: StartHub, buttons: Buttons, http_recorder: Recorders, broker: Mosquitto
) -> None:
    """A hold-up press at the bank calls the police (the default policy). A long press of
    `bank-1` (its own pattern) is a fire alarm of its own beside the open hold-up, and calls the
    fire brigade, then the commander at step 2. `clinic-1` is a medical button; the Shelly's long
    press is fire and the Zigbee SOS button's `emergency` medical (the profiles' patterns)."""
    server = http_recorder()
    running = await start_hub(
        registry=REGISTRY,
        notifiers={
            name: webhook(server, name) for name in ("police", "fire", "medical", "commander")
        },
        escalation={
            "steps": [{"after_s": 0, "notify": ["police"]}],
            "policies": {
                "fire": {
                    "steps": [
                        {"after_s": 0, "notify": ["fire"]},
                        {"after_s": 1, "notify": ["commander"]},
                    ]
                },
                "medical": {"steps": [{"after_s": 0, "notify": ["medical"]}]},
            },
            "kinds": {"fire": "fire", "medical": "medical"},
        },
        profiles={
            "press_patterns": {
                "shelly-gen1": {"long_press": "fire"},
                "zigbee2mqtt": {"emergency": "medical"},
            }
        },
    )
    shelly = VirtualShellyGen1(SHELLY, host=broker.host, port=broker.port)
    bridge = VirtualZigbee2MQTT(host=broker.host, port=broker.port)
    await shelly.connect()
    await bridge.connect()
    try:
        holdup = await press(await buttons("bank-2"))
        fire = await press(await buttons("bank-1"), "long_press")
        medical = await press(await buttons("clinic-1"))
        assert len({holdup, fire, medical}) == 3

        async def vendors_heard() -> bool:  # the hub subscribes to a profile's topics at start
            await shelly.press("L")
            await bridge.press(SOS, action="emergency")
            return len(running.hub.pipeline.state.alarms) >= 5  # type: ignore[union-attr]

        await wait_for(vendors_heard, 15, interval=0.5)
    finally:
        await shelly.close()
        await bridge.close()

    alarms = {a["id"]: a for a in await running.alarms()}
    kinds = {(a["site"]["id"], a["kind"]): a["id"] for a in alarms.values()}
    assert sorted(kinds) == [
        ("bank", "fire"),
        ("bank", "holdup"),
        ("clinic", "medical"),
        ("pharmacy", "fire"),
        ("pharmacy", "medical"),
    ]
    assert (kinds["bank", "holdup"], kinds["bank", "fire"]) == (holdup, fire)
    assert alarms[fire]["devices"] == ["bank-1"]

    def called(path: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for request in server.on(path):
            alarm = request.json()["alarm"]
            found[alarm["id"]] = max(found.get(alarm["id"], 0), alarm["level"])
        return found

    fires = {kinds["bank", "fire"], kinds["pharmacy", "fire"]}
    await server.wait(2, "/commander")
    assert called("/commander") == dict.fromkeys(fires, 2)
    assert called("/fire") == dict.fromkeys(fires, 1)
    assert set(called("/medical")) == {kinds["clinic", "medical"], kinds["pharmacy", "medical"]}
    assert called("/police") == {holdup: 1}, "only the hold-up follows the default policy"
    assert all(
        r.json()["alarm"]["kind"] == path.strip("/")
        for path in ("/fire", "/medical")
        for r in server.on(path)
    )
    detail: dict[str, Any] = (await running.api().get(f"/api/v1/alarms/{fire}")).json()
    raised = [e for e in detail["audit"] if e["action"] == "alarm.raised"]
    assert raised[0]["detail"]["kind"] == "fire"
