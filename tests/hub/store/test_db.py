"""The store's durability settings, migrations, and the append-only audit log (real SQLite)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from collections.abc import Iterator
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
        mode = await (await store.writer.execute("PRAGMA journal_mode")).fetchone()
        sync = await (await store.writer.execute("PRAGMA synchronous")).fetchone()
        assert mode is not None
        assert sync is not None
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


def _modes(path: Path) -> dict[str, int]:
    """The permission bits of the database and its side files that exist."""
    return {
        file.name: stat.S_IMODE(file.stat().st_mode)
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
        if file.exists()
    }


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("umask_022")
async def test_a_new_store_is_private_under_umask_022(tmp_path: Path) -> None:
    """Under umask 022 (a shell, not systemd's UMask=0027) the hub creates the database, its -wal
    and its -shm 0600, and the directory it makes 0700: they hold the phone links' secret, the
    signing keys and the password hashes."""
    path = tmp_path / "state" / "hub.db"
    store = Store(path)
    await store.open()
    try:
        await store.writer.execute("INSERT INTO meta (key, value) VALUES ('probe', 'x')")
        modes = _modes(path)
        assert set(modes) == {"hub.db", "hub.db-wal", "hub.db-shm"}, modes
        assert all(mode == 0o600 for mode in modes.values()), modes
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        await store.close()


@pytest.mark.usefixtures("umask_022")
def test_a_store_left_readable_by_others_is_closed_at_open(tmp_path: Path) -> None:
    """A store whose files an older hub left 0644 (and a group-readable one the installer chose,
    0640) loses only the others' bits when a command opens it."""
    path = tmp_path / "hub.db"
    with contextlib.closing(open_sync(path)) as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('probe', 'x')")
        for name in ("hub.db", "hub.db-wal", "hub.db-shm"):
            (tmp_path / name).chmod(0o644)
        (tmp_path / "hub.db").chmod(0o640)
    assert not (tmp_path / "hub.db-wal").exists()  # the last close checkpoints and removes it
    (tmp_path / "hub.db-wal").write_bytes(b"left over" * 100)  # not empty: SQLite leaves it
    (tmp_path / "hub.db-wal").chmod(0o644)
    with contextlib.closing(open_sync(path)):
        modes = _modes(path)
    assert modes["hub.db"] == 0o640
    assert modes["hub.db-wal"] == 0o640
    assert modes.get("hub.db-shm", 0o640) == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can create a file for another user")
def test_a_store_root_creates_belongs_to_its_directorys_owner(tmp_path: Path) -> None:
    """The installer runs `chuong user add` as root before the hub ever started: the new database
    belongs to the owner of the state directory (the service's user), or the hub could not open
    it."""
    directory = tmp_path / "state"
    directory.mkdir()
    os.chown(directory, 4242, 4343)
    with contextlib.closing(open_sync(directory / "hub.db")) as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('probe', 'x')")
        files = [directory / name for name in ("hub.db", "hub.db-wal", "hub.db-shm")]
        owners = {(f.stat().st_uid, f.stat().st_gid) for f in files}
    assert owners == {(4242, 4343)}
