"""The broker is down for a while and the buttons keep pressing: their presses wait in the buttons'
own queues, and everything arrives after the broker returns."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Callable

import httpx

from simulator.broker import Mosquitto
from simulator.button import VirtualButton
from tests.conftest import HubProcess

OUTAGE_S = float(os.environ.get("PROOF_OUTAGE_S", "5"))
"""5 s in `make test`; `make proof` runs it with 60 s."""


async def test_presses_during_a_broker_outage_all_arrive_after_it_returns(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """Broker down for OUTAGE_S while 5 buttons press every half second: the hub's /readyz says
    so; when the broker returns, the buttons and the hub reconnect by themselves and every press
    becomes part of an alarm exactly once."""
    hub = hub_process().start()
    await hub.wait_ready()
    buttons = [
        VirtualButton(f"outage-{n}", host=broker.host, port=broker.port, session_expiry_s=3600)
        for n in range(5)
    ]
    await asyncio.gather(*(b.connect() for b in buttons))
    broker.stop()
    pressed: list[tuple[VirtualButton, str]] = []
    async with httpx.AsyncClient(base_url=hub.url, timeout=5) as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OUTAGE_S
        while loop.time() < deadline:
            for button in buttons:
                press = await button.press(wait_puback=False)
                pressed.append((button, press.event_id))
            await asyncio.sleep(0.5)
        assert (await client.get("/readyz")).status_code == 503
        broker.start()
        await hub.wait_ready(60)
        for button, event_id in pressed:
            await button.wait_ack(event_id, "received", timeout=60)
        assert len(pressed) >= 5 * int(OUTAGE_S / 0.5) - 5
    for button in buttons:
        await button.close()
    with contextlib.closing(sqlite3.connect(f"file:{hub.db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT button_id, event_id FROM presses").fetchall()
    assert sorted(tuple(r) for r in rows) == sorted((b.id, e) for b, e in pressed)
