"""The PostgreSQL store: the same statements as SQLite, translated, on psycopg 3 connections.

The hub's SQL is written once, in SQLite's dialect, in this package (`changes.py`, `admin.py`,
`retention.py`, the `Store`'s reads). On PostgreSQL, `translate` rewrites the few things that
differ, by rule (reviewable, no ORM):

- placeholders: `?` becomes `%s`, and `?1` (a parameter used several times) `%(p1)s`;
- `INSERT OR IGNORE INTO ...` becomes `INSERT INTO ... ON CONFLICT DO NOTHING`;
- a row value compared with `IS NOT (...)` uses `IS DISTINCT FROM (...)`;
- `BEGIN IMMEDIATE` is `BEGIN` (PostgreSQL locks rows, not the file);
- `PRAGMA data_version` reads `registry_version`, which the registry's tables count in the
  changing transaction itself (migrations_pg/0001_initial.sql).

The schema is `migrations_pg/`, one file per SQLite migration, with the same numbers; the
version applied is in `schema_version`. Rows come back as `PgRow`, read by index or by name as
`sqlite3.Row` is, so `rows.py` serves both stores. Python booleans are stored as 0/1, as SQLite
does.

The hub holds two connections, as on SQLite: the writer's (`PgConnection.write`, one transaction
per batch) and a read-only one for the API. A connection that broke (the server restarted, the
network failed) is replaced at the next use; the failing call raises `psycopg.OperationalError`,
which the pipeline retries (`db.write_may_pass`) while the presses wait unacknowledged.

The command line's functions are written against `sqlite3`'s connection (`admin.py`,
`retention.py`, the registry's and the users' commands); `PgSyncConnection` speaks that subset
of it, and raises `sqlite3`'s exception classes, so they run unchanged on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from typing import Any, Final

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper
from psycopg.rows import RowMaker

from hub.errors import StoreError

log = logging.getLogger(__name__)

URL_PREFIXES: Final = ("postgresql://", "postgres://")
_MIGRATION_RE: Final = re.compile(r"(\d{4})_[a-z0-9_]+\.sql\Z")
_NUMBERED: Final = re.compile(r"\?(\d+)")
_MIGRATION_LOCK: Final = 0x63687567  # "chug": two hubs starting at once migrate one at a time

CONNECT_OPTIONS: Final[dict[str, Any]] = {
    "connect_timeout": 5,
    # A dead server or a cut cable is noticed within seconds, not after the kernel's two hours.
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10000,
}


def is_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(URL_PREFIXES)


def redact(url: str) -> str:
    """The URL without its password, for logs and errors."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> tuple[str, bool]:
    """The statement in PostgreSQL's dialect, and whether its parameters are numbered (`?1`)."""
    text = sql.strip()
    upper = text.upper()
    if upper == "BEGIN IMMEDIATE":
        return "BEGIN", False
    if upper == "PRAGMA DATA_VERSION":
        return "SELECT n FROM registry_version", False
    text = text.replace("%", "%%")
    if "INSERT OR IGNORE INTO" in text:
        text = text.replace("INSERT OR IGNORE INTO", "INSERT INTO") + " ON CONFLICT DO NOTHING"
    text = text.replace(") IS NOT (", ") IS DISTINCT FROM (")
    numbered = bool(_NUMBERED.search(text))
    if numbered:
        text = _NUMBERED.sub(lambda match: f"%(p{match.group(1)})s", text)
    return text.replace("?", "%s"), numbered


def _params(numbered: bool, params: Sequence[Any] | Mapping[str, Any]) -> Any:
    if numbered and not isinstance(params, Mapping):
        return {f"p{index}": value for index, value in enumerate(params, start=1)}
    return params


class PgRow:
    """A row read by index (`row[0]`) or by column name (`row["id"]`), as `sqlite3.Row`."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = tuple(values)
        self._index = index

    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PgRow):
            return self._values == other._values
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PgRow({self._values!r})"


def pg_row(cursor: Any) -> RowMaker[PgRow]:
    index: dict[str, int] = {}
    for position, column in enumerate(cursor.description or ()):
        index.setdefault(column.name, position)
    return functools.partial(PgRow, index=index)


class _BoolAsInt(Dumper):
    """Python booleans as 0/1 integers (the schema's booleans, as on SQLite)."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


def _prepare(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
    conn.adapters.register_dumper(bool, _BoolAsInt)


# -- migrations ------------------------------------------------------------------------------------


def migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("hub.store").joinpath("migrations_pg").iterdir():
        match = _MIGRATION_RE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort()
    return found


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Apply the migrations not yet applied (one transaction each); return the schema version."""
    known = migrations()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    current = int(row[0]) if row and row[0] is not None else 0
    if current > len(known):
        raise StoreError(
            f"the store has schema {current}, newer than this hub knows ({len(known)}); "
            "run the newer hub or restore a backup"
        )
    for number, name, sql in known:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
                if row and row[0] is not None and int(row[0]) >= number:
                    continue  # applied meanwhile by another hub
                log.info("store: applying migration %s (PostgreSQL)", name)
                conn.execute(sql.encode("utf-8"))
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        except psycopg.Error as exc:
            raise StoreError(f"migration {name} failed: {exc}") from exc
    return len(known)


def connect_sync(url: str, *, migrate_schema: bool = True) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(url, autocommit=True, **CONNECT_OPTIONS)
    except psycopg.Error as exc:
        raise StoreError(f"cannot open the store {redact(url)}: {exc}") from exc
    _prepare(conn)
    if migrate_schema:
        try:
            migrate(conn)
        except BaseException:
            conn.close()
            raise
    return conn


def migrate_pg(url: str) -> None:
    """Bring the store at `url` to this hub's schema (on a short-lived connection)."""
    connect_sync(url).close()


# -- the command line's connection -------------------------------------------------------------


def _as_sqlite_error(exc: psycopg.Error) -> sqlite3.Error:
    if isinstance(exc, psycopg.IntegrityError):
        return sqlite3.IntegrityError(str(exc))
    if isinstance(exc, psycopg.OperationalError):
        return sqlite3.OperationalError(str(exc))
    return sqlite3.DatabaseError(str(exc))


class PgSyncConnection:
    """The subset of `sqlite3.Connection` the command line's functions use, on PostgreSQL:
    `execute`/`executemany` with `?` placeholders, explicit `BEGIN IMMEDIATE`/`COMMIT`/`ROLLBACK`,
    `with conn:` (commit, or roll back on an exception), `in_transaction`, `close`. Errors are
    raised as `sqlite3`'s classes (IntegrityError for a unique key, OperationalError for the
    connection), the psycopg error chained."""

    row_factory: Any = None  # rows are always `PgRow`

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    @classmethod
    def open(cls, url: str) -> PgSyncConnection:
        return cls(connect_sync(url))

    @property
    def in_transaction(self) -> bool:
        return self._conn.info.transaction_status != pq.TransactionStatus.IDLE

    def execute(
        self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] = ()
    ) -> psycopg.Cursor[PgRow]:
        query, numbered = translate(sql)
        cursor = self._conn.cursor(row_factory=pg_row)
        try:
            cursor.execute(query.encode("utf-8"), _params(numbered, parameters))
        except psycopg.Error as exc:
            raise _as_sqlite_error(exc) from exc
        return cursor

    def executemany(
        self, sql: str, rows: Sequence[Sequence[Any]] | Iterator[Sequence[Any]]
    ) -> psycopg.Cursor[PgRow]:
        query, numbered = translate(sql)
        cursor = self._conn.cursor(row_factory=pg_row)
        try:
            cursor.executemany(query.encode("utf-8"), [_params(numbered, row) for row in rows])
        except psycopg.Error as exc:
            raise _as_sqlite_error(exc) from exc
        return cursor

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    def __enter__(self) -> PgSyncConnection:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()

    def close(self) -> None:
        self._conn.close()


# -- one hub per store ---------------------------------------------------------------------------

LOCK_KEY: Final = "chuong-store"
"""The advisory lock of the hub that writes the store (one per database)."""
LOCK_CHECK_S: Final = 1.0
LOCK_WAIT_S: Final = 10.0
"""How long a starting hub waits for the lock before it refuses to start."""
LOCK_IDLE_TIMEOUT: Final = "5s"
"""The server ends the lock's session when it stays silent this long (a frozen hub)."""


class StoreFenced(psycopg.OperationalError):
    """This hub no longer holds the store (another took it over): it must not write. An
    OperationalError, so the pipeline keeps the batch and retries, acknowledging nothing, until
    the lock is taken back."""


class StoreLock:
    """The store's one writer: a session-level advisory lock on a connection of its own, and an
    epoch in `store_lease`, incremented by each hub that takes the lock. Every batch's
    transaction reads the epoch (`FOR SHARE`) and writes only if it is still this hub's: a hub
    that lost the lock without noticing (frozen, cut off) commits nothing once another took it.

    The lock's connection is checked every `LOCK_CHECK_S`; the server ends it after
    `LOCK_IDLE_TIMEOUT` of silence, so a frozen hub loses the lock. When the connection breaks,
    the lock is taken again if it is free (with a new epoch).

    This is not a standby: a second hub does not wait for the lock, it refuses to start."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.epoch: int | None = None
        """this hub's epoch while it holds the lock"""
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def take(cls, url: str) -> StoreLock:
        """The lock, or StoreError naming the reason if another hub still holds it after
        `LOCK_WAIT_S` (the server may not have noticed yet that the previous hub died)."""
        lock = cls(url)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_WAIT_S
        while not await lock._try():
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0.2)
        if lock.epoch is None:
            raise StoreError(
                f"another hub is writing the store {redact(url)} (it holds its lock); "
                "one hub per PostgreSQL database"
            )
        lock._task = asyncio.create_task(lock._watch(), name="store-lock")
        return lock

    async def _try(self) -> bool:
        await self._drop()
        conn = await psycopg.AsyncConnection.connect(
            self.url,
            autocommit=True,
            options=f"-c idle_session_timeout={LOCK_IDLE_TIMEOUT}",
            **CONNECT_OPTIONS,
        )
        self._conn = conn
        cursor = await conn.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s))", (LOCK_KEY,), prepare=False
        )
        row = await cursor.fetchone()
        if not row or not row[0]:
            await self._drop()
            return False
        cursor = await conn.execute(
            "INSERT INTO store_lease (key, epoch) VALUES (%s, 1) ON CONFLICT (key) "
            "DO UPDATE SET epoch = store_lease.epoch + 1 RETURNING epoch",
            (LOCK_KEY,),
        )
        row = await cursor.fetchone()
        self.epoch = int(row[0]) if row else None
        log.info("store: this hub writes the store (epoch %s)", self.epoch)
        return self.epoch is not None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(LOCK_CHECK_S)
            try:
                if self._conn is None or self._conn.broken or self._conn.closed:
                    raise psycopg.OperationalError("the lock's connection is closed")
                await self._conn.execute("SELECT 1")
            except psycopg.Error as exc:
                if self.epoch is not None:
                    log.error("store: the store's lock was lost (%s); taking it again", exc)
                self.epoch = None
                try:
                    if not await self._try():
                        log.error("store: another hub holds the store's lock; writing nothing")
                except psycopg.Error as again:
                    log.warning("store: cannot take the store's lock yet: %s", again)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self.epoch = None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    async def release(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop()


# -- the hub's connections -----------------------------------------------------------------------


class PgConnection:
    """One asynchronous connection of the hub (the writer's, or the API's read-only one),
    replaced at its next use after it broke."""

    def __init__(self, url: str, *, read_only: bool, lock: StoreLock | None = None) -> None:
        self.url = url
        self._read_only = read_only
        self._lock = lock
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._unsure: tuple[object, int] | None = None
        """(batch, transaction id) of a write whose connection broke: committed or not?"""

    @classmethod
    async def open(
        cls, url: str, *, read_only: bool, lock: StoreLock | None = None
    ) -> PgConnection:
        conn = cls(url, read_only=read_only, lock=lock)
        await conn._connection()
        return conn

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._conn = None
        options = "-c default_transaction_read_only=on" if self._read_only else None
        # A failure here is a psycopg.OperationalError: the pipeline retries it.
        conn = await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, options=options, **CONNECT_OPTIONS
        )
        _prepare(conn)
        self._conn = conn
        return conn

    async def _lost(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    async def execute_fetchall(
        self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[PgRow]:
        query, numbered = translate(sql)
        conn = await self._connection()
        try:
            cursor = conn.cursor(row_factory=pg_row)
            await cursor.execute(query.encode("utf-8"), _params(numbered, parameters))
            return await cursor.fetchall() if cursor.description else []
        except psycopg.OperationalError:
            await self._lost()
            raise

    async def write(
        self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]], batch: object = None
    ) -> None:
        """Every statement with its rows in one transaction, or none of them: the commit has
        returned when this does.

        When the connection breaks, the transaction may or may not have committed (the break
        may come during COMMIT). Its id is kept, and the next write first asks the server what
        became of it: if it committed and the next write is the same `batch` again (the
        pipeline retries a failed commit with the same batch), that write is already done and
        returns at once; writing it again would fail on the presses' unique key. Anything else
        (aborted, or a different batch) writes normally."""
        if self._unsure is not None and await self._was_committed(batch):
            return
        conn = await self._connection()
        xid: int | None = None
        try:
            async with conn.transaction():
                cursor = conn.cursor()
                await cursor.execute(
                    b"SELECT txid_current(), epoch FROM store_lease WHERE key = %s FOR SHARE",
                    (LOCK_KEY,),
                )
                first = await cursor.fetchone()
                xid = int(first[0]) if first else None
                self._check_epoch(first[1] if first else None)
                for sql, rows in statements:
                    query, numbered = translate(sql)
                    await cursor.executemany(
                        query.encode("utf-8"), [_params(numbered, row) for row in rows]
                    )
        except StoreFenced:
            raise  # rolled back; the connection is fine
        except psycopg.OperationalError:
            if xid is not None:
                self._unsure = (batch, xid)
            await self._lost()
            raise

    def _check_epoch(self, stored: int | None) -> None:
        if self._lock is None:
            return
        if self._lock.epoch is None or stored != self._lock.epoch:
            raise StoreFenced(
                f"this hub does not hold the store's lock (its epoch {self._lock.epoch}, "
                f"the store's {stored}): writing nothing"
            )

    async def _was_committed(self, batch: object) -> bool:
        """Whether the transaction whose outcome was unknown committed, and was this `batch`;
        raises OperationalError while the server cannot say yet."""
        assert self._unsure is not None
        earlier, xid = self._unsure
        rows = await self.execute_fetchall("SELECT txid_status(?)", (xid,))
        status = rows[0][0] if rows else None
        if status == "in progress":
            raise psycopg.OperationalError(f"the outcome of transaction {xid} is not known yet")
        self._unsure = None
        if status == "committed":
            log.warning("store: the commit whose connection broke had succeeded (%s)", xid)
        return status == "committed" and batch is not None and earlier is batch

    async def close(self) -> None:
        await self._lost()
