"""The store's durability settings, migrations, and the append-only audit log (real SQLite)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from hub.errors import StoreError
from hub.store import Store
from hub.store.db import migrations, open_sync


async def test_writer_uses_wal_and_synchronous_full(tmp_path: Path) -> None:
    """The hub's writing connection is in WAL mode with synchronous=FULL (2): a commit, and so a
    PUBACK, survives power loss."""
    store = Store(tmp_path / "hub.db")
    await store.open()
    try:
        [mode] = await store.writer.execute_fetchall("PRAGMA journal_mode")
        [sync] = await store.writer.execute_fetchall("PRAGMA synchronous")
        assert str(mode[0]).lower() == "wal"
        assert int(sync[0]) == 2
    finally:
        await store.close()


async def test_the_api_reader_cannot_write(tmp_path: Path) -> None:
    """The API's connection is read-only: a write through it fails."""
    store = Store(tmp_path / "hub.db")
    await store.open()
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await store.reader.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
    finally:
        await store.close()


def test_migrations_are_numbered_without_gaps_and_applied_once(tmp_path: Path) -> None:
    """Opening twice applies every migration once; user_version is the last number."""
    numbers = [m.number for m in migrations()]
    assert numbers == list(range(1, len(numbers) + 1))
    with contextlib.closing(open_sync(tmp_path / "hub.db")) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(numbers)
    with contextlib.closing(open_sync(tmp_path / "hub.db")) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(numbers)


def test_a_store_newer_than_the_hub_is_refused(tmp_path: Path) -> None:
    """A store migrated by a newer hub is not opened by an older one (it would misread it)."""
    with contextlib.closing(open_sync(tmp_path / "hub.db")) as conn:
        conn.execute(f"PRAGMA user_version = {len(migrations()) + 1}")
    with pytest.raises(StoreError, match="newer than this hub"):
        open_sync(tmp_path / "hub.db")


def test_the_audit_log_is_append_only(tmp_path: Path) -> None:
    """Rows can be added to the audit log, never changed or deleted."""
    with contextlib.closing(open_sync(tmp_path / "hub.db")) as conn:
        conn.execute(
            "INSERT INTO audit (ts, actor, action) VALUES ('2026-11-22T08:00:00.000Z', 'hub', 'x')"
        )
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit SET actor = 'someone else'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit")
        assert [row["actor"] for row in conn.execute("SELECT actor FROM audit")] == ["hub"]


def test_presses_are_unique_on_button_and_event(tmp_path: Path) -> None:
    """The store itself refuses a second row for the same (button, event id)."""
    with contextlib.closing(open_sync(tmp_path / "hub.db")) as conn:
        row = ("b1", "e1", "press", None, "2026-11-22T08:00:00.000Z")
        sql = (
            "INSERT INTO presses (button_id, event_id, type, alarm_id, received_at) "
            "VALUES (?, ?, ?, ?, ?)"
        )
        conn.execute(sql, row)
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.execute(sql, row)
