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
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import resources
from typing import Any, Final

import psycopg
from psycopg import pq
from psycopg.adapt import Dumper
from psycopg.conninfo import conninfo_to_dict
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
SERVER_KEEPALIVES: Final = (
    "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3 "
    "-c tcp_user_timeout=10000"
)
"""The same on the server's end of each of the hub's connections. The client's settings above
only let the hub notice a dead server; the server notices a dead client through its own, whose
default is the system's (two hours on Linux). With these, the server ends every session of a hub
whose machine lost its power or its cable within about 11 s (its open transactions rolled back,
its row locks freed), whichever connection it was: the lock's, the writer's, the reader's, the
retention's. Not through a proxy or a NAT that answers for the dead machine (docs/HA.md): there
only the lock's idle timeout and the new active's ending of the old writer free the store."""


def is_url(location: object) -> bool:
    return isinstance(location, str) and location.startswith(URL_PREFIXES)


def lock_setting(busy_timeout_ms: int) -> str:
    """`store.busy_timeout_ms` as PostgreSQL's `lock_timeout`: how long a statement waits for
    another session's lock before it fails (docs/FACTS.md, "Lock waits"). PostgreSQL's 0 means no
    limit, so SQLite's 0 (no wait) becomes 1 ms."""
    return f"{max(1, int(busy_timeout_ms))}ms"


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


def server_options(url: str, settings: str = "") -> str:
    """The `options` of a connection to `url`: those the URL gives, then the server's keepalives
    and `settings` (a later `-c` wins)."""
    given = str(conninfo_to_dict(url).get("options") or "")
    return " ".join(part for part in (given, SERVER_KEEPALIVES, settings) if part)


def connect_sync(url: str, *, migrate_schema: bool = True) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(url, autocommit=True, options=server_options(url), **CONNECT_OPTIONS)
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
    def open(cls, url: str, lock_timeout_ms: int = 5000) -> PgSyncConnection:
        """A connection to the migrated store whose waits for another session's lock end after
        `lock_timeout_ms` (set after the migration, which waits for another hub's as long as it
        takes)."""
        conn = connect_sync(url)
        try:
            conn.execute(
                b"SELECT set_config('lock_timeout', %s, false)", (lock_setting(lock_timeout_ms),)
            )
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"cannot open the store {redact(url)}: {exc}") from exc
        return cls(conn)

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


# -- one active hub per store ----------------------------------------------------------------------

LOCK_KEY: Final = "chuong-store"
"""The advisory lock of the hub that writes the store (one per database)."""
LOCK_CHECK_S: Final = 1.0
"""How often the active hub confirms its lock."""
LOCK_POLL_S: Final = 0.2
"""How often a standby asks for the lock."""
LOCK_WAIT_S: Final = 10.0
"""How long `Store.open(lead=True)` (the tests, the tools) waits for the lock before refusing."""
LOCK_IDLE_TIMEOUT: Final = "5s"
"""The server ends the lock's session when it stays silent this long (a frozen or dead hub):
the lock is then free for a standby."""
WRITER_NAME: Final = "chuong-writer"
"""The `application_name` prefix of every hub's writer connection."""
LEASE_LOCK_TIMEOUT: Final = "2s"
"""How long taking the lock waits for the lease row (locked by a frozen hub's open batch)."""
RETAKE_PATIENCE_S: Final = 20.0
"""After losing its lease, how long a hub that finds the lock held but the epoch unchanged keeps
asking before it steps down: after a short cut of the network, the lock may still be held by
this hub's own old session, which the server ends only when it notices (the idle timeout, 5 s;
its keepalives, about 11 s). Nobody took the store meanwhile (the epoch would have moved)."""
LEASE_S: Final = 3.0
"""The active hub's lease: it holds the store only while its last confirmation of the lock is
younger than this. Shorter than `LOCK_IDLE_TIMEOUT`, so that a hub frozen past its lease knows
it before anyone can have taken the lock from it."""


def _abandon(task: asyncio.Future[Any]) -> None:
    """Cancel `task` without waiting for it to end; its outcome is read then, so that asyncio
    does not report it as never retrieved."""
    task.cancel()
    task.add_done_callback(lambda done: done.cancelled() or done.exception())


class StoreFenced(psycopg.OperationalError):
    """This hub no longer holds the store (another took it over): it must not write. An
    OperationalError, so the pipeline keeps the batch and retries, acknowledging nothing, until
    the lock is taken back."""


class StoreLock:
    """The store's one writer: a session-level advisory lock on a connection of its own (psycopg
    3 async, TCP keepalives and `tcp_user_timeout`, `idle_session_timeout`), and an epoch in
    `store_lease`, incremented by each hub that takes the lock (the fencing token). Every batch's
    transaction reads the epoch (`FOR SHARE`) and writes only if it is still this hub's: a hub
    that lost the lock without noticing (frozen, cut off) commits nothing once another took it.

    A standby polls for the lock (`wait`) every `LOCK_POLL_S` on the same connection. The active
    confirms it every `LOCK_CHECK_S`; `held` is true only while the last confirmation is younger
    than `LEASE_S`, so a hub that was frozen knows it at once when it resumes, before any of its
    callbacks can reconnect to the broker. When a confirmation fails, `on_lost` is called and the
    lock is asked for again: taken back with the next epoch (nobody held it meanwhile, as when
    the server restarted), `on_regained` is called; held by another hub, or taken back after
    another hub held it, `on_superseded` is called (this hub's state is stale) and the lock is
    left alone."""

    def __init__(
        self,
        url: str,
        *,
        writer_name: str = "",
        on_lost: Callable[[], None] = lambda: None,
        on_regained: Callable[[], None] = lambda: None,
        on_superseded: Callable[[], None] = lambda: None,
    ) -> None:
        self.url = url
        self.writer_name = writer_name
        """the `application_name` of this hub's writer connection (spared by `_fence_others`)"""
        self.epoch: int | None = None
        """this hub's epoch while it holds the lock"""
        self.on_lost = on_lost
        self.on_regained = on_regained
        self.on_superseded = on_superseded
        self._confirmed_at = 0.0
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def held(self) -> bool:
        """Whether this hub holds the store now: the lock, confirmed within `LEASE_S`."""
        return self.epoch is not None and time.monotonic() - self._confirmed_at < LEASE_S

    @classmethod
    async def take(cls, url: str, *, writer_name: str = "") -> StoreLock:
        """The lock, or StoreError naming the reason if another hub still holds it after
        `LOCK_WAIT_S` (the server may not have noticed yet that the previous hub died)."""
        lock = cls(url, writer_name=writer_name)
        try:
            await asyncio.wait_for(lock.wait(), LOCK_WAIT_S)
        except TimeoutError:
            await lock.release()
            raise StoreError(
                f"another hub is writing the store {redact(url)} (it holds its lock); "
                "one hub per PostgreSQL database"
            ) from None
        return lock

    async def try_take(self) -> bool:
        """Ask for the lock once; on success this hub is the store's writer, with a new epoch,
        and the lock is watched from now on."""
        if not await self._try():
            return False
        self._task = asyncio.create_task(self._watch(), name="store-lock")
        return True

    async def wait(self) -> None:
        """Until this hub holds the lock (a standby's wait). Connection errors are retried."""
        while True:
            try:
                if await self.try_take():
                    return
            except psycopg.Error as exc:
                log.warning("store: cannot ask for the store's lock yet: %s", exc)
                await self._drop()
            await asyncio.sleep(LOCK_POLL_S)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        await self._drop()
        conn = await psycopg.AsyncConnection.connect(
            self.url,
            autocommit=True,
            # A lease row locked by a frozen hub's open transaction (see PgConnection) makes
            # the epoch's update fail after `lock_timeout` rather than wait for ever; the
            # connection is then dropped, releasing the lock, and the lock asked for again.
            options=server_options(
                self.url,
                f"-c idle_session_timeout={LOCK_IDLE_TIMEOUT} -c lock_timeout={LEASE_LOCK_TIMEOUT}",
            ),
            **CONNECT_OPTIONS,
        )
        self._conn = conn
        return conn

    async def _try(self) -> bool:
        conn = await self._connection()
        cursor = await conn.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s))", (LOCK_KEY,), prepare=False
        )
        row = await cursor.fetchone()
        if not row or not row[0]:
            return False
        await self._fence_others(conn)
        cursor = await conn.execute(
            "INSERT INTO store_lease (key, epoch) VALUES (%s, 1) ON CONFLICT (key) "
            "DO UPDATE SET epoch = store_lease.epoch + 1 RETURNING epoch",
            (LOCK_KEY,),
        )
        row = await cursor.fetchone()
        if not row:
            return False
        self._confirmed_at = time.monotonic()
        self.epoch = int(row[0])
        log.info("store: this hub writes the store (epoch %s)", self.epoch)
        return True

    async def _fence_others(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """End the writer connections of every other hub of this store. The lock is this hub's,
        so they are not writing legitimately; one may be a frozen hub's, in the middle of a batch
        (its open transaction holds the lease row, which the epoch's update must change; a
        client frozen between the messages of a pipelined batch is not "idle in transaction"
        for the server, so no server timeout ends it). Its batch is rolled back, unacknowledged."""
        cursor = await conn.execute(
            "SELECT pid, pg_terminate_backend(pid, 2000) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name LIKE %s "
            "AND application_name <> %s AND pid <> pg_backend_pid()",
            (f"{WRITER_NAME}-%", self.writer_name),
            prepare=False,
        )
        ended = [row[0] for row in await cursor.fetchall()]
        if ended:
            log.warning("store: ended the writer connection of another hub (pid %s)", ended)

    async def _confirm(self) -> None:
        if self._conn is None or self._conn.broken or self._conn.closed:
            raise psycopg.OperationalError("the lock's connection is closed")
        cursor = await self._conn.execute(
            "SELECT epoch FROM store_lease WHERE key = %s", (LOCK_KEY,), prepare=False
        )
        row = await cursor.fetchone()
        if not row or int(row[0]) != self.epoch:
            raise psycopg.OperationalError(
                f"the store's epoch is {row[0] if row else None}, not this hub's {self.epoch}"
            )

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(LOCK_CHECK_S)
            if not self.held:
                await self._lose("its lease ran out unconfirmed (was this hub frozen?)")
                return
            # Not `wait_for`: cancelling a query in flight makes psycopg ask the server to cancel
            # it, over a new connection, and wait for that (up to 10 s) before it gives the
            # cancellation back; on a dead network the lease would wait all that time.
            confirm = asyncio.ensure_future(self._confirm())
            try:
                done, _ = await asyncio.wait({confirm}, timeout=LEASE_S / 2)
            except asyncio.CancelledError:  # released
                _abandon(confirm)
                raise
            if not done:
                _abandon(confirm)
                await self._lose("no answer in time (is the network to the server down?)")
                return
            if (error := confirm.exception()) is not None:
                # Whatever the error, the lease is not confirmed: the hub stops speaking and asks
                # again (an error that ended this task would leave it silent for good).
                await self._lose(str(error) or f"the confirmation failed: {error!r}")
                return
            self._confirmed_at = time.monotonic()

    async def _lose(self, why: str) -> None:
        """The lease is lost: say so at once, then ask for the lock again."""
        previous = self.epoch
        self.epoch = None
        log.error("store: this hub lost the store's lock: %s", why)
        self.on_lost()
        await self._drop()
        await asyncio.sleep(0)  # let an abandoned confirmation unwind before a new socket
        patience = time.monotonic() + RETAKE_PATIENCE_S
        while True:
            try:
                if await self._try():
                    break
                if (
                    previous is not None
                    and time.monotonic() < patience
                    and await self._epoch_now() == previous
                ):
                    # Held, but nobody took the store: perhaps this hub's own old session, not
                    # yet ended by the server. Ask again.
                    await asyncio.sleep(LOCK_POLL_S)
                    continue
                log.error("store: another hub holds the store's lock: this hub steps down")
                self.on_superseded()
                return
            except psycopg.Error as exc:
                log.warning("store: cannot take the store's lock back yet: %s", exc)
                await self._drop()
            await asyncio.sleep(LOCK_POLL_S)
        if previous is not None and self.epoch == previous + 1:
            log.warning("store: took the store's lock back (epoch %s)", self.epoch)
            self._task = asyncio.create_task(self._watch(), name="store-lock")
            self.on_regained()
            return
        log.error(
            "store: another hub held the store meanwhile (epoch %s, this hub had %s): "
            "this hub steps down",
            self.epoch,
            previous,
        )
        await self._drop()
        self.on_superseded()

    async def _epoch_now(self) -> int | None:
        """The store's lease epoch as it is now (None: no lease row)."""
        conn = await self._connection()
        cursor = await conn.execute(
            "SELECT epoch FROM store_lease WHERE key = %s", (LOCK_KEY,), prepare=False
        )
        row = await cursor.fetchone()
        return None if row is None else int(row[0])

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self.epoch = None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                await conn.close()

    async def release(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        await self._drop()


# -- the hub's connections -----------------------------------------------------------------------


class PgConnection:
    """One asynchronous connection of the hub (the writer's, or the API's read-only one),
    replaced at its next use after it broke."""

    def __init__(
        self,
        url: str,
        *,
        read_only: bool,
        lock: StoreLock | None = None,
        lock_timeout_ms: int = 5000,
    ) -> None:
        self.url = url
        self._lock_timeout_ms = lock_timeout_ms
        self._name = lock.writer_name if lock is not None and lock.writer_name else "chuong"
        self._read_only = read_only
        self._lock = lock
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._unsure: tuple[object, int] | None = None
        """(batch, transaction id) of a write whose connection broke: committed or not?"""

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        read_only: bool,
        lock: StoreLock | None = None,
        lock_timeout_ms: int = 5000,
    ) -> PgConnection:
        conn = cls(url, read_only=read_only, lock=lock, lock_timeout_ms=lock_timeout_ms)
        await conn._connection()
        return conn

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._conn = None
        # A hub frozen in the middle of a batch holds the lease row (`FOR SHARE`) in an open
        # transaction; the server ends that transaction after LOCK_IDLE_TIMEOUT, so that a
        # standby can increment the epoch.
        options = f"-c idle_in_transaction_session_timeout={LOCK_IDLE_TIMEOUT}"
        # Another session's lock on a table (a maintenance job, a backup tool) must not make a
        # batch wait for ever: like SQLite's busy timeout, the wait ends with an error the
        # pipeline retries, and the hub says it cannot commit (readiness, troubles) meanwhile.
        options += f" -c lock_timeout={lock_setting(self._lock_timeout_ms)}"
        if self._read_only:
            options += " -c default_transaction_read_only=on"
        # A failure here is a psycopg.OperationalError: the pipeline retries it.
        conn = await psycopg.AsyncConnection.connect(
            self.url,
            autocommit=True,
            options=server_options(self.url, options),
            application_name=self._name,
            **CONNECT_OPTIONS,
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
