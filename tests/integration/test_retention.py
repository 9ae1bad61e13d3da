"""Retention in the running hub: old history and sent notices go while a burst of presses comes
in, and every press the broker acknowledged is recorded."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import httpx

from hub.store.db import open_sync_at
from simulator.broker import Mosquitto
from simulator.load import LoadPublisher
from tests.conftest import HubProcess, query_store, wait_for
from tests.hub.store.test_retention import add_alarm, add_notice

OLD_NOTICES = 1500


def _count(store: Path | str, sql: str) -> int:
    [[count]] = query_store(store, sql)
    return int(count)


async def test_retention_prunes_only_what_it_should_while_a_burst_runs(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    hub = hub_process(
        {
            "CHUONG_STORE__RETENTION__HISTORY_DAYS": "365",
            "CHUONG_STORE__RETENTION__INTERVAL_S": "0.3",
            "CHUONG_STORE__RETENTION__BATCH": "50",
        }
    )
    with contextlib.closing(open_sync_at(hub.store)) as conn:
        add_alarm(conn, "old-resolved", raised=400, resolved=399)
        add_alarm(conn, "old-open", raised=400, resolved=None)
        add_alarm(conn, "recent-resolved", raised=10, resolved=9)
        for n in range(OLD_NOTICES):
            add_notice(
                conn, f"alarm:old-resolved/9.{n}/n", "old-resolved", state="delivered", finished=398
            )
    hub.start()
    await hub.wait_ready()
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    try:
        for n in range(600):
            publisher.press(f"shop-{n % 20}", f"burst-{n:04d}")
        assert await publisher.drain(60)

        def pruned() -> bool:
            return _count(hub.store, "SELECT count(*) FROM alarms WHERE id = 'old-resolved'") == 0

        await wait_for(pruned, timeout=60)
        await wait_for(
            lambda: (
                _count(hub.store, "SELECT count(*) FROM presses WHERE event_id LIKE 'burst-%'")
                == len(publisher.acknowledged)
            ),
            timeout=60,
        )
    finally:
        await publisher.close()
    db = hub.store
    assert len(publisher.acknowledged) == 600
    assert _count(db, "SELECT count(*) FROM outbox WHERE alarm_id = 'old-resolved'") == 0
    assert _count(db, "SELECT count(*) FROM presses WHERE alarm_id = 'old-resolved'") == 0
    assert _count(db, "SELECT count(*) FROM audit WHERE alarm_id = 'old-resolved'") == 0
    # The open alarm keeps its history and its escalation, however old; the recent one all of it.
    for alarm in ("old-open", "recent-resolved"):
        assert _count(db, f"SELECT count(*) FROM alarms WHERE id = '{alarm}'") == 1
        assert _count(db, f"SELECT count(*) FROM presses WHERE alarm_id = '{alarm}'") == 1
        assert _count(db, f"SELECT count(*) FROM audit WHERE alarm_id = '{alarm}'") >= 1
    assert _count(db, "SELECT count(*) FROM escalations WHERE alarm_id = 'old-open'") == 1
    assert _count(db, "SELECT count(*) FROM audit WHERE action = 'store.pruned'") >= 1
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        metrics = (await client.get("/metrics")).text
    assert f'chuong_store_pruned_rows_total{{table="outbox"}} {float(OLD_NOTICES + 1)}' in metrics
