"""The PostgreSQL store: the dialect's rules, the mirrored schema, one transaction per batch,
a broken connection replaced, and the command line's sqlite3-speaking connection."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.domain.model import Role, Site
from hub.domain.state import Registry
from hub.errors import StoreError
from hub.store import Changes, Store, admin, pg, write_may_pass
from hub.store.db import migrations as sqlite_migrations
from hub.store.db import open_reader_at, open_sync_at
from hub.store.ops import InsertSite, PressRow
from hub.store.pg import PgRow, StoreFenced, migrations, redact, translate
from simulator.netcut import CuttableProxy
from tests.conftest import wait_for
from tests.hub.store.test_changes import NOW, _changes


@pytest.mark.parametrize(
    ("sqlite", "postgresql", "numbered"),
    [
        ("SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = %s AND c = %s", False),
        (
            "INSERT OR IGNORE INTO t (a) VALUES (?)",
            "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING",
            False,
        ),
        ("SELECT 1 WHERE x < ?1 AND y < ?1", "SELECT 1 WHERE x < %(p1)s AND y < %(p1)s", True),
        (
            "UPDATE t SET a = 1 WHERE (t.a, t.b) IS NOT (excluded.a, excluded.b)",
            "UPDATE t SET a = 1 WHERE (t.a, t.b) IS DISTINCT FROM (excluded.a, excluded.b)",
            False,
        ),
        ("BEGIN IMMEDIATE", "BEGIN", False),
        ("PRAGMA data_version", "SELECT n FROM registry_version", False),
        ("SELECT '5%' || ?", "SELECT '5%%' || %s", False),
        ("SELECT a FROM t WHERE a IS NOT NULL", "SELECT a FROM t WHERE a IS NOT NULL", False),
    ],
)
def test_translate(sqlite: str, postgresql: str, numbered: bool) -> None:
    assert translate(sqlite) == (postgresql, numbered)


def test_the_postgresql_migrations_mirror_the_sqlite_ones() -> None:
    """Same numbers, same names: a SQLite migration without its PostgreSQL twin fails here."""
    assert [(n, name) for n, name, _ in migrations()] == [
        (m.number, m.name) for m in sqlite_migrations()
    ]
    assert resources.files("hub.store").joinpath("migrations_pg").is_dir()


def test_rows_read_by_index_and_by_name() -> None:
    row = PgRow(("a", 2), {"id": 0, "n": 1})
    assert (row[0], row["n"], dict(row), list(row)) == ("a", 2, {"id": "a", "n": 2}, ["a", 2])


def test_redact_hides_the_password() -> None:
    assert redact("postgresql://hub:s3cret@db:5432/chuong") == "postgresql://hub:***@db:5432/chuong"


async def test_a_batch_is_one_transaction(pg_database: str, tmp_path: Path) -> None:
    """Every row of a batch, or none: the last statement fails (a site added twice) and the rows
    before it, in other tables, are rolled back; the next batch commits normally."""
    store = Store(tmp_path / "unused.db", url=pg_database)
    await store.open()
    try:
        broken = _changes()
        site = Site("s1", "Bank")
        broken.ops += [InsertSite(site, NOW), InsertSite(site, NOW)]
        with pytest.raises(psycopg.IntegrityError) as raised:
            await store.commit(broken)
        assert not write_may_pass(raised.value), "a bug in the hub's SQL is not retried"
        assert await store.pending_notifiers() == set()
        assert await store.load_registry() == Registry({}, {})
        assert await store.list_rejected() == []
        assert await store.list_device_states() == {}
        await store.commit(_changes())
        assert await store.pending_notifiers() == {"siren"}
        [rejected] = await store.list_rejected()
        assert rejected["size"] == 1
    finally:
        await store.close()


async def test_a_broken_connection_is_retried_then_replaced(
    pg_database: str, tmp_path: Path
) -> None:
    """The server ends the writer's connection (a restart, a failover): that commit fails with
    an error the pipeline retries, and the next one commits on a new connection."""
    store = Store(tmp_path / "unused.db", url=pg_database)
    await store.open()
    try:
        [[pid]] = await store.writer.execute_fetchall("SELECT pg_backend_pid()")
        with psycopg.connect(pg_database, autocommit=True) as admin_conn:
            admin_conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError) as raised:
            await store.commit(_changes())
        assert write_may_pass(raised.value)
        await store.commit(_changes())
        assert await store.pending_notifiers() == {"siren"}
    finally:
        await store.close()


async def test_a_table_locked_by_another_session_fails_the_batch_after_the_busy_timeout(
    pg_database: str, tmp_path: Path
) -> None:
    """Another session holds a lock on the presses (a maintenance job): the batch does not wait
    for ever, but fails after `busy_timeout_ms` with an error the pipeline retries (and reports:
    the hub says it cannot commit); once the lock goes, the same batch commits."""
    store = Store(tmp_path / "unused.db", url=pg_database, busy_timeout_ms=200)
    await store.open()
    try:
        with psycopg.connect(pg_database, autocommit=True) as other, other.transaction():
            other.execute("LOCK TABLE presses IN EXCLUSIVE MODE")
            batch = _with_a_press()
            with pytest.raises(psycopg.OperationalError) as raised:
                # The limit only ends a wait that would never end by itself.
                await asyncio.wait_for(store.commit(batch), 20)
            assert write_may_pass(raised.value)
        await store.commit(batch)
        [[stored]] = await store.reader.execute_fetchall("SELECT count(*) FROM presses")
        assert stored == 1
    finally:
        await store.close()


async def test_the_command_line_and_the_reports_wait_for_a_lock_only_the_busy_timeout(
    pg_database: str,
) -> None:
    """The command line's connection and the reports' reader, on a store where another session
    holds a lock (ACCESS EXCLUSIVE: even reads wait): each fails after its busy timeout, the
    command line's with `sqlite3.OperationalError` (as on a locked SQLite file), instead of
    waiting for as long as the lock is held."""
    with contextlib.closing(open_sync_at(pg_database)):
        pass  # the schema exists before the lock is taken
    with psycopg.connect(pg_database, autocommit=True) as other, other.transaction():
        other.execute("LOCK TABLE sites IN ACCESS EXCLUSIVE MODE")

        def command_line() -> None:
            with contextlib.closing(open_sync_at(pg_database, busy_timeout_ms=200)) as conn:
                conn.execute("SELECT count(*) FROM sites")

        with pytest.raises(sqlite3.OperationalError):
            # The limit only ends a wait that would never end by itself.
            await asyncio.wait_for(asyncio.to_thread(command_line), 20)
        reader = await open_reader_at(pg_database, busy_timeout_ms=200)
        try:
            with pytest.raises(psycopg.OperationalError):
                await asyncio.wait_for(reader.execute_fetchall("SELECT count(*) FROM sites"), 20)
        finally:
            await reader.close()


async def test_data_version_moves_when_the_command_line_changes_the_registry(
    pg_database: str, tmp_path: Path
) -> None:
    store = Store(tmp_path / "unused.db", url=pg_database)
    await store.open()
    try:
        before = await store.data_version()
        await store.commit(_changes())
        assert await store.data_version() == before
        with contextlib.closing(open_sync_at(pg_database)) as conn:
            admin.import_registry(conn, [Site("s1", "Bank")], [], NOW, "cli")
        assert await store.data_version() != before
        assert list((await store.load_registry()).sites) == ["s1"]
    finally:
        await store.close()


def _delete_sites_then_fail(conn: sqlite3.Connection) -> None:
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM sites")
        raise RuntimeError("a failure in the middle")


def test_the_command_lines_functions_run_on_postgresql(pg_database: str) -> None:
    """A taken name is refused (sqlite3.IntegrityError under the hood), a failed change rolls
    back whole, and an unchanged import changes nothing."""
    with contextlib.closing(open_sync_at(pg_database)) as conn:
        assert admin.add_user(conn, "an", Role.OFFICER, "hash", NOW, "cli")
        assert not admin.add_user(conn, "an", Role.ADMIN, "hash", NOW, "cli")
        assert [u.username for u in admin.list_users(conn, NOW)] == ["an"]
        site = Site("s1", "Bank")
        assert admin.import_registry(conn, [site], [], NOW, "cli") == {"sites": 1, "buttons": 0}
        assert admin.import_registry(conn, [site], [], NOW, "cli") == {"sites": 0, "buttons": 0}
        with pytest.raises(RuntimeError):
            _delete_sites_then_fail(conn)
        assert [s.id for s in admin.all_sites(conn)] == ["s1"]
        assert not conn.in_transaction


def _with_a_press() -> Changes:
    changes = _changes()
    changes.presses.append(
        PressRow("b1", "e1", "press", None, "2026-11-22T14:05:01.123Z", None, None, None, 0, None)
    )
    return changes


@pytest.mark.parametrize("committed", [True, False], ids=["break-after-commit", "break-before"])
async def test_a_commit_whose_connection_broke_is_neither_lost_nor_doubled(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, committed: bool
) -> None:
    """The connection breaks at the end of a batch's transaction, after COMMIT reached the server
    or before: the pipeline retries the same batch, which the store then finds committed (and
    does not write again: its press would break the unique key) or writes."""
    store = Store(tmp_path / "unused.db", url=pg_database)
    await store.open()
    real = psycopg.AsyncConnection.transaction

    @contextlib.asynccontextmanager
    async def breaking(self: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        if committed:
            async with real(self, *args, **kwargs) as transaction:
                yield transaction
        else:
            async with real(self, *args, **kwargs) as transaction:
                yield transaction
                raise psycopg.OperationalError("server closed the connection unexpectedly")
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    try:
        batch = _with_a_press()
        monkeypatch.setattr(psycopg.AsyncConnection, "transaction", breaking)
        with pytest.raises(psycopg.OperationalError):
            await store.commit(batch)
        monkeypatch.undo()
        [[stored]] = await store.reader.execute_fetchall("SELECT count(*) FROM presses")
        assert stored == (1 if committed else 0)
        await store.commit(batch)  # the pipeline's retry
        [[stored]] = await store.reader.execute_fetchall("SELECT count(*) FROM presses")
        assert stored == 1
        assert len(await store.list_rejected()) == 1
        later = _changes()
        later.presses.append(batch.presses[0]._replace(event_id="e2"))
        await store.commit(later)  # the next batch is written as usual
        [[stored]] = await store.reader.execute_fetchall("SELECT count(*) FROM presses")
        assert stored == 2
    finally:
        await store.close()


async def test_a_second_hub_cannot_open_a_store_another_writes(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One hub writes a PostgreSQL store: a second `Store.open()` that wants the lock (the tools,
    these tests; a hub itself waits as the standby, tests/faults/test_failover.py) refuses,
    saying why; once the first has closed it, the next one opens it."""
    monkeypatch.setattr(pg, "LOCK_WAIT_S", 0.5)
    first = Store(tmp_path / "unused.db", url=pg_database)
    await first.open()
    second = Store(tmp_path / "unused.db", url=pg_database)
    try:
        with pytest.raises(StoreError, match="another hub is writing the store"):
            await second.open()
    finally:
        await first.close()
    await second.open()
    await second.commit(_changes())
    await second.close()


async def test_a_hub_that_lost_the_lock_without_noticing_commits_nothing(
    pg_database: str, tmp_path: Path
) -> None:
    """Fencing: the first hub's lock is taken from it while it is not looking (frozen: its check
    does not run); a second hub takes the lock with a new epoch. The first hub's next batch is
    refused (an error the pipeline retries, acknowledging nothing) and writes nothing; the
    second hub's commits."""
    first = Store(tmp_path / "unused.db", url=pg_database)
    await first.open()
    second = Store(tmp_path / "unused.db", url=pg_database)
    try:
        lock = first._lock
        assert lock is not None
        assert lock._task is not None
        lock._task.cancel()  # frozen: it does not notice
        assert lock._conn is not None
        [[lock_pid]] = await (await lock._conn.execute("SELECT pg_backend_pid()")).fetchall()
        with psycopg.connect(pg_database, autocommit=True) as admin_conn:
            admin_conn.execute("SELECT pg_terminate_backend(%s)", (lock_pid,))
        await second.open()
        assert second._lock is not None
        assert second._lock.epoch == (lock.epoch or 0) + 1
        # Taking the lock ended the first hub's writer connection (it might have been in the
        # middle of a batch, holding the lease row): its next commit fails on that, and the
        # one after, on a new connection, is fenced. Both are retried, nothing acknowledged.
        with pytest.raises(psycopg.OperationalError) as ended:
            await first.commit(_with_a_press())
        assert write_may_pass(ended.value)
        with pytest.raises(StoreFenced) as raised:
            await first.commit(_with_a_press())
        assert write_may_pass(raised.value)
        [[stored]] = await second.reader.execute_fetchall("SELECT count(*) FROM presses")
        assert stored == 0
        await second.commit(_with_a_press())
        [[stored]] = await second.reader.execute_fetchall("SELECT count(*) FROM presses")
        assert stored == 1
    finally:
        await first.close()
        await second.close()


async def test_a_lease_confirmation_lost_in_a_dead_network_loses_the_lease_at_once(
    pg_database: str,
) -> None:
    """The network to the server dies while the active hub runs (its machine's cable, or a
    machine that loses its power between two of the lock's checks): the confirmation in flight
    gets no answer. The lease is lost, and the broker cut (`on_lost`), as soon as the
    confirmation has waited `LEASE_S / 2`: before anything more is tried over the dead network.
    Cancelling the query would not do: psycopg, cancelled in a query, first asks the server to
    cancel it over a new connection (never answered here: 5 s), then waits 5 s more for the
    query; the lease was lost 12.5 s after the cut that way."""
    pg.migrate_pg(pg_database)
    head, _, tail = pg_database.rpartition("@")
    host, _, rest = tail.partition(":")
    port, _, database = rest.partition("/")
    proxy = CuttableProxy(host, int(port)).start()
    connections_when_lost: list[int] = []
    lock = pg.StoreLock(
        f"{head}@{proxy.host}:{proxy.port}/{database}",
        on_lost=lambda: connections_when_lost.append(proxy.connections),
    )
    try:
        assert await lock.try_take()
        assert proxy.connections == 1
        proxy.cut()
        # The first check after the cut sends a confirmation that is never answered.
        await wait_for(lambda: bool(connections_when_lost), timeout=60)
        assert connections_when_lost == [1], "the lease waited for a cancel request"
        assert not lock.held
    finally:
        proxy.restore()
        await lock.release()
        proxy.close()


_KEEPALIVES = (
    "SELECT current_setting('tcp_keepalives_idle'), current_setting('tcp_keepalives_interval'), "
    "current_setting('tcp_keepalives_count'), current_setting('tcp_user_timeout'), "
    "current_setting('statement_timeout')"
)


async def test_the_server_notices_a_dead_hub_on_every_connection(
    pg_database: str, tmp_path: Path
) -> None:
    """The server's own keepalives (docs/HA.md): a hub's machine that loses its power is noticed
    by the server on each of its connections (the lock's, the writer's, the reader's, the command
    line's and the retention's), not after the system's two hours. The URL's own `options` are
    kept."""
    url = f"{pg_database}?options=-c%20statement_timeout%3D7s"
    expected = ("5", "2", "3", "10000", "7s")
    store = Store(tmp_path / "unused.db", url=url)
    await store.open()
    try:
        assert store._lock is not None
        assert store._lock._conn is not None
        cursor = await store._lock._conn.execute(_KEEPALIVES)
        assert await cursor.fetchone() == expected
        assert store._pg_writer is not None
        for conn in (store._pg_writer, store.reader):
            assert isinstance(conn, pg.PgConnection)
            assert tuple(await conn.execute_fetchall(_KEEPALIVES)) == (PgRow(expected, {}),)
    finally:
        await store.close()
    sync = open_sync_at(url)
    try:
        assert tuple(sync.execute(_KEEPALIVES).fetchone()) == expected
    finally:
        sync.close()


@pytest.mark.parametrize(
    ("error", "passes"),
    [
        (psycopg.errors.ReadOnlySqlTransaction, True),  # a failover, a read-only default
        (psycopg.errors.IdleInTransactionSessionTimeout, True),
        (psycopg.errors.QueryCanceled, True),  # statement_timeout
        (psycopg.errors.DiskFull, True),
        (psycopg.errors.AdminShutdown, True),
        (psycopg.InterfaceError, True),
        (psycopg.errors.UniqueViolation, False),  # the hub's own fault: split, quarantined
        (psycopg.errors.UndefinedColumn, False),
        (psycopg.errors.InvalidTextRepresentation, False),
    ],
)
def test_which_postgresql_errors_may_pass(error: type[psycopg.Error], passes: bool) -> None:
    """A store error that may pass keeps the batch and retries it (nothing acknowledged, the
    store shown unwritable); only a fault of the hub's own SQL or data is split and set aside."""
    assert write_may_pass(error("x")) is passes


async def test_a_lease_lost_to_a_short_cut_is_taken_back_not_given_up(pg_database: str) -> None:
    """A short cut of the network: the hub gave up its lock's connection, but the server has not
    noticed yet, so this hub's own old session still holds the lock. Nobody took the store (the
    epoch has not moved): the hub asks again until the server ends the old session, and takes
    its lock back with the next epoch. It does not step down (a needless failover, or with no
    standby a restart), as it did at the first refusal."""
    pg.migrate_pg(pg_database)
    events: list[str] = []
    lock = pg.StoreLock(
        pg_database,
        on_lost=lambda: events.append("lost"),
        on_regained=lambda: events.append("regained"),
        on_superseded=lambda: events.append("superseded"),
    )
    try:
        assert await lock.try_take()
        epoch = lock.epoch
        assert epoch is not None
        assert lock._task is not None
        lock._task.cancel()  # the watch is driven by hand here
        with contextlib.suppress(asyncio.CancelledError):
            await lock._task
        stale, lock._conn = lock._conn, None  # the old session, still holding the lock
        assert stale is not None
        retake = asyncio.create_task(lock._lose("no answer in time (test)"))
        await asyncio.sleep(1.0)
        assert events == ["lost"], "asked again while its own old session held the lock"
        await stale.close()  # the server ends the old session
        await retake
        assert events == ["lost", "regained"]
        assert lock.epoch == epoch + 1
    finally:
        await lock.release()
