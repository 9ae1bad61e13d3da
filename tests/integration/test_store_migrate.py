"""`chuong store migrate`: a post's history moves from its SQLite file to PostgreSQL, and the hub
carries on there as if nothing happened."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg
import pytest

from hub import cli
from hub.config import StoreSection
from hub.domain.model import Role
from simulator.button import VirtualButton
from tests.conftest import RunningHub, query_store

pytestmark = pytest.mark.sqlite_only(
    "it moves a post's SQLite file to PostgreSQL: each run starts on SQLite and ends on PostgreSQL"
)

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]


async def chuong(argv: list[str]) -> int:
    """The command line, off the event loop the in-process hub runs on."""
    return await asyncio.to_thread(cli.main, argv)


async def test_a_posts_history_moves_to_postgresql_and_the_hub_carries_on(
    start_hub: StartHub,
    buttons: Buttons,
    pg_database: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Alarms (one resolved, one open), presses, audit, tokens and the registry are copied; the
    hub on PostgreSQL shows the same history, knows a redelivered press, numbers the next alarm
    after the copied ones; a second copy into the same database is refused."""
    running = await start_hub()
    first = await buttons("bank-1")
    press = await first.press()
    resolved_id = (await first.wait_ack(press.event_id)).ack.alarm
    officer = running.api(Role.OFFICER)
    assert (await officer.post(f"/api/v1/alarms/{resolved_id}/ack", json={})).status_code == 200
    resolve = await officer.post(
        f"/api/v1/alarms/{resolved_id}/resolve", json={"outcome": "false_alarm", "note": "bấm nhầm"}
    )
    assert resolve.status_code == 200, resolve.text
    clinic = await buttons("clinic-1")
    open_press = await clinic.press()
    open_id = (await clinic.wait_ack(open_press.event_id)).ack.alarm
    before = await running.alarms()
    audit_before = (await running.api().get(f"/api/v1/alarms/{resolved_id}")).json()["audit"]
    await running.hub.stop()
    sqlite_path = running.config.store.path

    argv = ["store", "migrate", "--from", f"sqlite:{sqlite_path}", "--to", pg_database]
    assert await chuong(argv) == 0
    out = capsys.readouterr().out
    assert "alarms: 2 rows" in out
    for table in ("presses", "audit", "api_tokens", "sites", "buttons"):
        [[lite]] = query_store(sqlite_path, f"SELECT count(*) FROM {table}")
        [[moved]] = query_store(pg_database, f"SELECT count(*) FROM {table}")
        assert (table, moved) == (table, lite)

    on_pg = await start_hub(
        store=StoreSection(path=tmp_path / "unused.db", url=pg_database, probe_interval_s=0.5)
    )
    assert on_pg.hub.store.url == pg_database
    assert await on_pg.alarms() == before
    after = await on_pg.api(Role.VIEWER).get(f"/api/v1/alarms/{resolved_id}")
    assert after.json()["audit"] == audit_before
    # The copied tokens still open the API (the test's tokens were made on SQLite).
    assert (await on_pg.api(Role.OFFICER).get("/api/v1/alarms")).status_code == 200

    # A press the broker redelivers is known; a new one is the next alarm after the copied ones.
    again = await buttons("clinic-1")
    await again.press(event_id=open_press.event_id)
    await again.wait_ack(open_press.event_id)
    bank = await buttons("bank-2")
    new_press = await bank.press()
    await bank.wait_ack(new_press.event_id)
    alarms = {a["id"]: a for a in await on_pg.alarms()}
    assert len(alarms) == 3
    assert alarms[open_id]["press_count"] == 1
    [[max_seq]] = query_store(pg_database, "SELECT max(seq) FROM alarms")
    assert max_seq == 3
    assert query_store(
        pg_database, "SELECT alarm_id FROM presses WHERE event_id = ?", new_press.event_id
    )

    assert await chuong(argv) == 1
    assert "not empty" in capsys.readouterr().err


async def test_migrate_names_what_is_wrong_with_its_arguments(
    tmp_path: Path, pg_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await chuong(["store", "migrate", "--from", str(tmp_path), "--to", pg_database]) == 1
    assert "--from must be sqlite:PATH" in capsys.readouterr().err
    argv = ["store", "migrate", "--from", f"sqlite:{tmp_path / 'x.db'}", "--to", "sqlite:/x"]
    assert await chuong(argv) == 1
    assert "--to must be a postgresql:// URL" in capsys.readouterr().err
    argv = ["store", "migrate", "--from", f"sqlite:{tmp_path / 'none.db'}", "--to", pg_database]
    assert await chuong(argv) == 1
    assert "no SQLite store at" in capsys.readouterr().err
    with psycopg.connect(pg_database) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'alarms'")
        assert tables.fetchone() == (0,), "a refused copy touched nothing"
