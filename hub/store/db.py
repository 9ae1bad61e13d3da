"""Opening the SQLite store: pragmas, numbered migrations, and the connections.

- WAL with `synchronous=FULL`: a commit survives power loss, and readers never block the writer.
- Migrations are the files `migrations/NNNN_name.sql`, applied in order inside one transaction
  each; `PRAGMA user_version` holds the number of the last one applied.
- The hub holds one writing connection (used only by the pipeline's writer task) and one reading
  connection for the API. Command-line tools use a short-lived synchronous connection.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Concatenate, Final, ParamSpec, TypeVar

import aiosqlite

from hub.errors import StoreError
from hub.store.files import make_private

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_MIGRATION_RE: Final = re.compile(r"(\d{4})_[a-z0-9_]+\.sql\Z")


@dataclass(frozen=True, slots=True)
class Migration:
    number: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files("hub.store").joinpath("migrations").iterdir():
        match = _MIGRATION_RE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda migration: migration.number)
    numbers = [migration.number for migration in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise StoreError(f"migrations must be numbered 1..n without gaps, found {numbers}")
    return found


def _pragmas(busy_timeout_ms: int) -> list[str]:
    return [
        f"PRAGMA busy_timeout = {int(busy_timeout_ms)}",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA foreign_keys = ON",
    ]


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations not yet applied; return the schema version."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    known = migrations()
    if current > len(known):
        raise StoreError(
            f"the store has schema {current}, newer than this hub knows ({len(known)}); "
            "run the newer hub or restore a backup"
        )
    for migration in known[current:]:
        log.info("store: applying migration %s", migration.name)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {migration.number}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise StoreError(f"migration {migration.name} failed: {exc}") from exc
    return max(current, len(known))


def _statements(script: str) -> list[str]:
    """Split a migration into statements (triggers keep their inner semicolons)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise StoreError(f"incomplete SQL statement at the end of a migration: {buffer[:60]!r}")
    return statements


def open_sync(path: Path, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """A migrated synchronous connection, for command-line tools (autocommit mode)."""
    make_private(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        for pragma in _pragmas(busy_timeout_ms):
            conn.execute(pragma)
        migrate(conn)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the store {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    return conn


def run_on(
    conn: aiosqlite.Connection,
    fn: Callable[Concatenate[sqlite3.Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> Awaitable[T]:
    """Run `fn(sqlite3_connection, ...)` on the aiosqlite connection's own thread, in one round
    trip, and return its result.

    aiosqlite sends every call to its thread and back; a batch's transaction made of one call per
    statement cost about ten round trips, each waking the other thread and contending for the
    GIL (py-spy on the hub at 100 presses/s: a third of the samples holding the GIL were queueing
    them). aiosqlite has no public way to run a function on its thread: `_execute` is what its
    own methods use, `_conn` the sqlite3 connection they run on (both in its early releases and
    in 0.22, where this was checked). `check_run_on` verifies them when the store opens, so a
    change in aiosqlite stops the hub at start-up, never at its first press.
    """
    return conn._execute(fn, conn._conn, *args, **kwargs)  # type: ignore[no-untyped-call]


def check_run_on(conn: aiosqlite.Connection) -> None:
    if not callable(getattr(conn, "_execute", None)) or not hasattr(type(conn), "_conn"):
        raise StoreError(
            f"aiosqlite {getattr(aiosqlite, '__version__', '?')} has no Connection._execute or "
            "_conn, which the store's writer needs (checked with aiosqlite 0.22)"
        )


async def open_writer(path: Path, busy_timeout_ms: int) -> aiosqlite.Connection:
    """The hub's one writing connection, migrated, in autocommit mode (transactions explicit)."""
    await asyncio.to_thread(lambda: open_sync(path, busy_timeout_ms).close())
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
        for pragma in _pragmas(busy_timeout_ms):
            await conn.execute(pragma)
        mode = await (await conn.execute("PRAGMA journal_mode")).fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise StoreError(f"the store {path} cannot use WAL (journal_mode is {mode})")
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open the store {path}: {exc}") from exc
    conn.row_factory = aiosqlite.Row
    check_run_on(conn)
    return conn


async def open_reader(path: Path, busy_timeout_ms: int) -> aiosqlite.Connection:
    """A read-only connection for the API: it can never write, whatever a handler does."""
    try:
        conn = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True)
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the store {path} for reading: {exc}") from exc
    conn.row_factory = aiosqlite.Row
    return conn
