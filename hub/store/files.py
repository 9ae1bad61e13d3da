"""The store's files are private whatever the umask.

The database holds the phone links' secret, the buttons' signing keys and the password hashes;
under umask 022 SQLite alone makes it and its `-wal` and `-shm` 0644. So a new database is created
0600 (its directory 0700) before SQLite opens it, and SQLite gives the `-wal` and `-shm` it
creates the database's mode. Files an older hub left readable by others lose those bits at every
open; a group the installer chose keeps its access.

A database that root creates (a command the installer runs before the service ever started)
belongs to its directory's owner, the service's user, as SQLite does for the `-wal` and `-shm` it
creates as root: otherwise the service could not open it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from hub.errors import StoreError

SIDE_FILES: Final = ("-wal", "-shm", "-journal")


def make_private(path: Path) -> None:
    """Create the database file 0600 if it is missing; take every permission for others off it
    and its side files."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        else:
            owner = path.parent.stat()
            if os.geteuid() == 0 and (owner.st_uid, owner.st_gid) != (0, 0):
                os.chown(path, owner.st_uid, owner.st_gid)
        for file in (path, *(path.with_name(path.name + side) for side in SIDE_FILES)):
            try:
                mode = stat.S_IMODE(file.stat().st_mode)
            except FileNotFoundError:
                continue
            if mode & 0o007:
                os.chmod(file, mode & ~0o007)
    except OSError as exc:
        raise StoreError(f"cannot open the store {path}: {exc}") from exc
