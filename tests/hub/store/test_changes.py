"""A batch's rows reach the store in one transaction, all or nothing, in one round trip."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.domain.model import DeviceState, Site
from hub.domain.state import Registry
from hub.errors import StoreError
from hub.store import Changes, Store
from hub.store.changes import _AUDIT_INSERT, _DEVICE_UPSERT, _REJECTED_PRUNE, statement_of
from hub.store.db import WriterConnection
from hub.store.ops import InsertSite, QueueNotification

NOW = datetime(2026, 11, 22, 14, 5, 1, 123000, tzinfo=UTC)


def _changes() -> Changes:
    changes = Changes()
    changes.add_audit("2026-11-22T14:05:01.123Z", "hub", "test.one")
    changes.add_rejected("2026-11-22T14:05:01.123Z", "t", b"x", "bad", "detail", None)
    changes.devices["b1"] = DeviceState(button_id="b1", first_seen=NOW, last_seen=NOW)
    changes.ops.append(QueueNotification("k", "siren", "alarm", {"n": 1}, NOW, alarm_id="a1"))
    return changes


def test_statements_in_order_with_the_rows_made() -> None:
    """Core tables first (the rejected log pruned right after its insert), the parts' operations
    last."""
    statements = _changes().statements(rejected_keep=100)
    sqls = [sql for sql, _ in statements]
    assert sqls[0] == _AUDIT_INSERT
    assert sqls[2] == _REJECTED_PRUNE
    assert statements[2][1] == [(100,)]
    assert sqls[3] == _DEVICE_UPSERT
    assert statements[3][1][0][:3] == ("b1", "2026-11-22T14:05:01.123Z", "2026-11-22T14:05:01.123Z")
    sql, params = statement_of(_changes().ops[0])
    assert statements[-1] == (sql, [params])
    assert sql.startswith("INSERT OR IGNORE INTO outbox")
    assert Changes().statements(100) == []


async def test_commit_writes_every_row(tmp_path: Path) -> None:
    store = Store(tmp_path / "hub.db")
    await store.open()
    try:
        await store.commit(_changes())
        assert await store.pending_notifiers() == {"siren"}
        assert len(await store.list_rejected()) == 1
        assert "b1" in await store.list_device_states()
    finally:
        await store.close()


async def test_a_failing_statement_leaves_nothing_behind(tmp_path: Path) -> None:
    """The last statement fails (a site added twice): the rows before it, in other tables, are
    rolled back too, and the connection takes the next batch normally."""
    store = Store(tmp_path / "hub.db")
    await store.open()
    try:
        broken = _changes()
        site = Site("s1", "Bank")
        broken.ops += [InsertSite(site, NOW), InsertSite(site, NOW)]
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            await store.commit(broken)
        assert await store.pending_notifiers() == set()
        assert await store.load_registry() == Registry({}, {})
        assert await store.list_rejected() == []
        assert await store.list_device_states() == {}
        await store.commit(_changes())
        assert await store.pending_notifiers() == {"siren"}
    finally:
        await store.close()


async def test_the_writer_runs_on_one_thread_of_its_own(tmp_path: Path) -> None:
    """`WriterConnection.run` hands the sqlite3 connection to the function on the connection's
    own thread (not the event loop's), always the same one, and returns its result."""
    conn = await WriterConnection.open(tmp_path / "x.db", 5000)
    try:

        def probe(raw: sqlite3.Connection, offset: int) -> tuple[int, int]:
            return threading.get_ident(), raw.execute("SELECT 41 + ?", (offset,)).fetchone()[0]

        thread, value = await conn.run(probe, 1)
        assert value == 42
        assert thread != threading.get_ident()
        assert {(await conn.run(probe, n))[0] for n in range(20)} == {thread}
        assert [tuple(row) for row in await conn.execute_fetchall("SELECT ?, 2", ("a",))] == [
            ("a", 2)
        ]
    finally:
        await conn.close()


async def test_a_closed_writer_refuses_work(tmp_path: Path) -> None:
    conn = await WriterConnection.open(tmp_path / "x.db", 5000)
    await conn.close()
    with pytest.raises(StoreError, match="closed"):
        await conn.execute_fetchall("SELECT 1")


async def test_a_store_that_cannot_open_says_why(tmp_path: Path) -> None:
    """A path where no database can be made is a `StoreError` naming it, not a raw error."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open the store"):
        await WriterConnection.open(blocker / "hub.db", 5000)
