"""The store's disk fills up: the hub stops acknowledging (the broker keeps the presses), says why
on /readyz and in the troubles, and records every press once space returns."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx

from simulator.broker import Mosquitto
from simulator.load import LoadPublisher
from tests.conftest import HubProcess, wait_for
from tests.faults.conftest import fill


def _count(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT count(*) FROM presses").fetchone()[0])


async def test_disk_full_holds_presses_in_the_broker_and_recovers_without_loss(
    hub_process: Callable[..., HubProcess], broker: Mosquitto, small_disk: Path
) -> None:
    """Fill the store's filesystem during traffic: /readyz goes 503 with SQLite's reason, the
    store-writable metric drops, the hub acknowledges nothing it could not store; free the space:
    every press the broker acknowledged is recorded exactly once."""
    db = small_disk / "hub.db"
    hub = hub_process(
        {
            "CHUONG_STORE__PATH": str(db),
            "CHUONG_STORE__RETRY_MAX_S": "0.5",
            "CHUONG_STORE__PROBE_INTERVAL_S": "0.5",
        }
    ).start()
    await hub.wait_ready()
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    for n in range(200):
        publisher.press(f"before-{n:03d}")
    assert await publisher.drain(20)
    await wait_for(lambda: _count(db) == 200, timeout=20)

    filler = fill(small_disk)
    async with httpx.AsyncClient(base_url=hub.url, timeout=5) as client:
        # SQLite reuses the space its WAL file already has, so the first presses may still fit:
        # keep pressing until the hub reports the full disk.
        sent = 200
        while (await client.get("/readyz")).status_code == 200:
            assert sent < 20_000, "the store never reported the full disk"
            for n in range(100):
                publisher.press(f"full-{sent + n:05d}")
            sent += 100
            assert await publisher.drain(20)
            await asyncio.sleep(0.2)
        reasons = (await client.get("/readyz")).json()["reasons"]
        assert any("disk is full" in reason for reason in reasons), reasons
        metrics = (await client.get("/metrics")).text
        assert "chuong_store_writable 0.0" in metrics
        assert _count(db) < sent, "a press was stored although the disk was full"

        filler.unlink()

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await wait_for(ready, timeout=30)
    await wait_for(lambda: _count(db) == sent, timeout=60)
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        stored = {tuple(r) for r in conn.execute("SELECT button_id, event_id FROM presses")}
        audit = [
            r[0] for r in conn.execute("SELECT action FROM audit WHERE action = 'store.recovered'")
        ]
    assert stored == {(s.button, s.event_id) for s in publisher.acknowledged}
    assert audit == ["store.recovered"]
    await publisher.close()
