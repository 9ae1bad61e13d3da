"""`chuong sim --scenario …` against a real Mosquitto and a hub: the misbehaving button and the
virtual vendor device do what the hub must notice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from hub import cli
from hub.registry.file import ButtonEntry, RegistryFile, SiteEntry
from tests.conftest import RunningHub, wait_for
from tests.integration.supervision.conftest import trouble

Supervised = Callable[..., Awaitable[RunningHub]]

REGISTRY = RegistryFile(
    sites=[SiteEntry(id="shop", name="Tạp hóa Lan")],
    buttons=[
        ButtonEntry(id="sim-01", site="shop"),
        ButtonEntry(id="lan-1", site="shop", profile="tasmota", native_id="lan-01"),
    ],
)


async def sim(broker: Any, *args: str) -> int:
    argv = ["sim", "--host", broker.host, "--port", str(broker.port), *args]
    return await asyncio.to_thread(cli.main, argv)


async def test_the_tamper_scenario_opens_a_tamper_trouble(
    supervised: Supervised, broker: Any
) -> None:
    running = await supervised(registry=REGISTRY)
    assert await sim(broker, "--scenario", "tamper", "--duration", "1") == 0
    assert (await trouble(running, "tamper", "sim-01"))["site_id"] == "shop"


async def test_a_virtual_tasmota_presses_as_its_registered_button(
    supervised: Supervised, broker: Any
) -> None:
    running = await supervised(registry=REGISTRY)
    code = await sim(
        broker,
        "--scenario",
        "tasmota",
        "--prefix",
        "lan",
        "--duration",
        "2",
        "--press-every",
        "0.2",
    )
    assert code == 0

    async def raised() -> bool:
        return bool(await running.alarms())

    await wait_for(raised)
    alarms = await running.alarms()
    assert [a["devices"] for a in alarms] == [["lan-1"]]
    assert alarms[0]["press_count"] >= 1
