"""Scenarios for supervision: buttons that misbehave the way real ones do, and off-the-shelf
buttons speaking their vendors' payloads. Used by the tests and by `chuong sim --scenario`.

    flaky-wifi      the button drops off (its last will fires) and comes back, again and again
    dying-battery   heartbeats with the battery falling a little each time
    tamper          the button reports that its case was opened
    silent          the button hangs: connected, but nothing more, not even a heartbeat
    shelly-gen1, shelly-gen2, tasmota, zigbee2mqtt
                    a virtual device of that vendor, pressing now and then
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from typing import Final

from simulator.button import VirtualButton
from simulator.vendors import (
    VirtualDevice,
    VirtualShellyGen1,
    VirtualShellyGen2,
    VirtualTasmota,
    VirtualZigbee2MQTT,
)


async def flaky_wifi(
    button: VirtualButton, *, drops: int, up_s: float, down_s: float, heartbeat_s: float = 1.0
) -> None:
    """`drops` times: online for `up_s` (with heartbeats), then gone abruptly for `down_s`."""
    for _ in range(drops):
        await heartbeats(button, seconds=up_s, every_s=heartbeat_s)
        button.kill()
        await asyncio.sleep(down_s)
        await button.connect()


async def heartbeats(
    button: VirtualButton, *, seconds: float, every_s: float, battery: int | None = None
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        await button.heartbeat(battery=battery)
        await asyncio.sleep(min(every_s, max(0.0, deadline - loop.time())))


async def dying_battery(
    button: VirtualButton, *, start: int = 60, step: int = 5, stop: int = 5, every_s: float = 1.0
) -> None:
    """Heartbeats reporting `start`%, then `step` less each time, down to `stop`%."""
    for battery in range(start, stop - 1, -step):
        await button.heartbeat(battery=battery)
        await asyncio.sleep(every_s)


async def tamper(button: VirtualButton) -> None:
    await button.press("tamper")


async def silent(button: VirtualButton, *, after_s: float = 0.0, every_s: float = 1.0) -> None:
    """Heartbeats for `after_s`, then the button hangs with its connection open."""
    await heartbeats(button, seconds=after_s, every_s=every_s)
    button.freeze()


async def _vendor(
    name: str,
    ident: str,
    *,
    host: str,
    port: int,
    press_every: float,
    duration: float,
    say: Callable[[str], None],
) -> None:
    device: VirtualDevice
    press: Callable[[], Awaitable[None]]
    if name == "shelly-gen1":
        shelly1 = VirtualShellyGen1(ident, host=host, port=port)
        device, press = shelly1, shelly1.press
    elif name == "shelly-gen2":
        shelly2 = VirtualShellyGen2(ident, host=host, port=port)
        device, press = shelly2, shelly2.press
    elif name == "tasmota":
        tasmota = VirtualTasmota(ident, host=host, port=port)
        device, press = tasmota, tasmota.press
    else:
        bridge = VirtualZigbee2MQTT(host=host, port=port)
        device, press = bridge, functools.partial(bridge.sos, ident)
    await device.connect()
    say(f"{name} device {ident!r} connected to {host}:{port}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration
    try:
        while loop.time() < deadline:
            wait = random.expovariate(1 / press_every)  # simulation, not security
            await asyncio.sleep(min(wait, deadline - loop.time()))
            if loop.time() < deadline:
                await press()
                say(f"{ident}: pressed")
    finally:
        await device.go_offline()


VENDORS: Final = ("shelly-gen1", "shelly-gen2", "tasmota", "zigbee2mqtt")
SCENARIOS: Final = ("flaky-wifi", "dying-battery", "tamper", "silent", *VENDORS)


async def run(
    name: str,
    *,
    button_id: str,
    host: str,
    port: int,
    root: str,
    press_every: float,
    duration: float,
    say: Callable[[str], None],
) -> None:
    """Play one scenario against a broker (for `chuong sim --scenario`)."""
    if name in VENDORS:
        await _vendor(
            name,
            button_id,
            host=host,
            port=port,
            press_every=press_every,
            duration=duration,
            say=say,
        )
        return
    button = VirtualButton(button_id, host=host, port=port, root=root)
    await button.connect()
    say(f"{button_id}: connected; playing {name}")
    if name == "silent":
        await silent(button, after_s=min(10.0, duration))
        say(f"{button_id}: hung (no goodbye, no heartbeat)")
        await asyncio.sleep(max(0.0, duration - 10))
        return
    try:
        if name == "flaky-wifi":
            await flaky_wifi(button, drops=max(1, int(duration // 20)), up_s=15, down_s=5)
        elif name == "dying-battery":
            await dying_battery(button, every_s=max(1.0, duration / 12))
        else:
            await tamper(button)
    finally:
        await button.go_offline()
