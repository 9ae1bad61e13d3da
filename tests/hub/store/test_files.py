"""The store's files are private whatever the umask (hub/store/files.py), on real SQLite."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.store import Store
from hub.store.db import open_sync


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
        await store.writer.execute_fetchall("INSERT INTO meta (key, value) VALUES ('probe', 'x')")
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


def test_a_store_root_creates_belongs_to_its_directorys_owner(tmp_path: Path) -> None:
    """The installer runs `chuong user add` as root before the hub ever started: the new database
    belongs to the owner of the state directory (the service's user), or the hub could not open
    it."""
    assert os.geteuid() == 0, "only root can create a file for another user: run make test as root"
    directory = tmp_path / "state"
    directory.mkdir()
    os.chown(directory, 4242, 4343)
    with contextlib.closing(open_sync(directory / "hub.db")) as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('probe', 'x')")
        files = [directory / name for name in ("hub.db", "hub.db-wal", "hub.db-shm")]
        owners = {(f.stat().st_uid, f.stat().st_gid) for f in files}
    assert owners == {(4242, 4343)}
