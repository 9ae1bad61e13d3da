"""Opening the SQLite store: pragmas, numbered migrations, and the connections.

- WAL with `synchronous=FULL`: a commit survives power loss, and readers never block the writer.
  The writer's connection never checkpoints (`wal_autocheckpoint = 0`): the hub's checkpointer
  does, off the press path (hub/store/checkpoint.py).
- Migrations are the files `migrations/NNNN_name.sql`, applied in order inside one transaction
  each; `PRAGMA user_version` holds the number of the last one applied.
- The hub holds one writing connection (used only by the pipeline's writer task): stdlib `sqlite3`
  on a thread of its own (`WriterConnection`); and one reading connection for the API and the
  features (aiosqlite, public API only). Command-line tools use a short-lived synchronous
  connection (`open_sync`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Concatenate, Final, ParamSpec, Protocol, TypeVar, cast

import aiosqlite
import psycopg

from hub.errors import StoreError
from hub.store import pg
from hub.store.files import make_private

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_MIGRATION_RE: Final = re.compile(r"(\d{4})_[a-z0-9_]+\.sql\Z")


class Reader(Protocol):
    """What the store's reads use of a connection: aiosqlite's, the writer's, PostgreSQL's."""

    async def execute_fetchall(self, sql: str, parameters: Any = ..., /) -> Iterable[Any]: ...

    async def close(self) -> None: ...


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


def open_sync_at(location: Path | str, busy_timeout_ms: int = 5000) -> sqlite3.Connection:
    """`open_sync` for a SQLite path, or a PostgreSQL URL: then a `pg.PgSyncConnection`, which
    speaks the subset of `sqlite3.Connection` the command line's functions use (typed as one).
    On both, a wait for another connection's lock ends after `busy_timeout_ms`."""
    if pg.is_url(location):
        return cast(sqlite3.Connection, pg.PgSyncConnection.open(str(location), busy_timeout_ms))
    return open_sync(Path(location), busy_timeout_ms)


READ_ERRORS: Final = (sqlite3.Error, psycopg.Error)
"""What a read of either store may raise when the store fails (not when the hub has a bug)."""

WRITE_ERRORS: Final = (sqlite3.DatabaseError, OSError, psycopg.Error)
"""What a failed commit may raise (sqlite3.OperationalError is a DatabaseError)."""


def write_may_pass(exc: BaseException) -> bool:
    """Store errors worth retrying: the disk, the file or a lock, not a bug in the hub's SQL."""
    if isinstance(exc, OSError | sqlite3.OperationalError):
        return True
    # PostgreSQL: anything but a fault of the hub's own SQL or data may pass: the server
    # restarted or is unreachable, the connection broke, a serialization failure or a deadlock
    # (the batch is retried whole, as after a lock on SQLite), the database turned read-only (a
    # failover, `default_transaction_read_only`), a timeout, a server short of resources. Those
    # set aside as bugs would leave presses neither recorded nor shown, and no trouble raised.
    if isinstance(exc, psycopg.Error):
        return not isinstance(
            exc,
            psycopg.IntegrityError
            | psycopg.ProgrammingError
            | psycopg.DataError
            | psycopg.NotSupportedError,
        )
    # Plain DatabaseError is what SQLite says of a damaged file: retrying keeps the presses with
    # the broker while the operator restores the store; dropping them would lose them.
    return type(exc) is sqlite3.DatabaseError


class WriterConnection:
    """The hub's one writing connection: a stdlib `sqlite3` connection that lives on one thread
    of its own, made, used and closed there only (`sqlite3` refuses any other).

    `run` sends a function to that thread and returns its result in one round trip: a batch's
    whole transaction is one call (`changes.apply`), and SQLite releases the GIL while it works.
    Measured against aiosqlite (whose public API costs one round trip per statement), see
    docs/BENCHMARKS.md.
    """

    def __init__(self, executor: concurrent.futures.ThreadPoolExecutor) -> None:
        self._executor = executor
        self._conn: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: Path, busy_timeout_ms: int) -> WriterConnection:
        writer = cls(concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="store-writer"))
        try:
            writer._conn = await writer._call(_connect_writer, path, busy_timeout_ms)
        except BaseException:
            writer._executor.shutdown(wait=False)
            raise
        return writer

    def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Awaitable[T]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def run(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Awaitable[T]:
        """Run `fn(sqlite3_connection, ...)` on the connection's thread; return its result."""
        if self._conn is None:
            raise StoreError("the store's writing connection is closed")
        return self._call(fn, self._conn, *args, **kwargs)

    async def execute_fetchall(
        self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[sqlite3.Row]:
        """Every row of one statement (as aiosqlite's method of the same name)."""
        return await self.run(_fetchall, sql, parameters)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                await self._call(conn.close)
        finally:
            self._executor.shutdown(wait=False)


def _fetchall(
    conn: sqlite3.Connection, sql: str, parameters: Sequence[Any] | Mapping[str, Any]
) -> list[sqlite3.Row]:
    return conn.execute(sql, parameters).fetchall()


def _connect_writer(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open, migrate and check the writing connection (on its own thread)."""
    try:
        conn = open_sync(path, busy_timeout_ms)
    except OSError as exc:
        raise StoreError(f"cannot open the store {path}: {exc}") from exc
    try:
        mode = conn.execute("PRAGMA journal_mode").fetchone()
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot open the store {path}: {exc}") from exc
    if mode is None or str(mode[0]).lower() != "wal":
        conn.close()
        raise StoreError(f"the store {path} cannot use WAL (journal_mode is {mode})")
    # No checkpoint inside a COMMIT of the press path: hub/store/checkpoint.py runs them.
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn


async def open_writer(path: Path, busy_timeout_ms: int) -> WriterConnection:
    """The hub's one writing connection, migrated, in autocommit mode (transactions explicit)."""
    return await WriterConnection.open(path, busy_timeout_ms)


async def open_reader_at(location: Path | str, busy_timeout_ms: int) -> Reader:
    """`open_reader` for a SQLite path, or a read-only connection to a PostgreSQL URL (both with
    `execute_fetchall` and `close`)."""
    if pg.is_url(location):
        return await pg.PgConnection.open(
            str(location), read_only=True, lock_timeout_ms=busy_timeout_ms
        )
    return await open_reader(Path(location), busy_timeout_ms)


async def open_reader(path: Path, busy_timeout_ms: int) -> aiosqlite.Connection:
    """A read-only connection for the API: it can never write, whatever a handler does."""
    try:
        conn = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True)
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the store {path} for reading: {exc}") from exc
    conn.row_factory = aiosqlite.Row
    return conn
