"""The durable store: SQLite in WAL mode with `synchronous=FULL` (the default), or PostgreSQL
when `store.url` names one (`pg.py`). Every SQL statement of the hub is in this package; the rest
of the hub sees typed operations and records (`ops.py`).

`Store` owns two connections: the writer's (used only by the pipeline, one transaction per batch:
`commit` writes a batch's `Changes`, core rows and the features' operations alike) and a read-only
one for the API and the features' reads, which return domain records, the records of `ops.py`, or
plain dicts ready for the API. The command line's synchronous changes are in `admin.py`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import psycopg

from hub.clock import iso, parse_iso
from hub.domain.model import Alarm, DeviceState, Role, Trouble
from hub.domain.state import HubState, Registry
from hub.errors import StoreError
from hub.store import changes as _changes
from hub.store.changes import Changes
from hub.store.checkpoint import Checkpointer
from hub.store.db import (
    WRITE_ERRORS,
    Reader,
    WriterConnection,
    open_reader,
    open_writer,
    write_may_pass,
)
from hub.store.ops import (
    Due,
    OutboxRow,
    PostRecord,
    RecordPostChange,
    SessionRecord,
    TokenRow,
    UntestedButton,
    UpstreamRow,
    UserListing,
    UserRecord,
)
from hub.store.pg import WRITER_NAME, PgConnection, StoreLock, migrate_pg, redact
from hub.store.rows import (
    ALARM_COLUMNS,
    DEVICE_COLUMNS,
    OUTBOX_COLUMNS,
    TROUBLE_COLUMNS,
    UNTESTED_SQL,
    alarm_from_row,
    button_from_row,
    device_from_row,
    due_from_row,
    outbox_from_row,
    site_from_row,
    trouble_from_row,
    untested_from_row,
)

log = logging.getLogger(__name__)

__all__ = [
    "WRITE_ERRORS",
    "Changes",
    "Store",
    "button_from_row",
    "site_from_row",
    "write_may_pass",
]

EVENT_LOOKUP_CHUNK: Final = 400
"""(button, event) pairs per lookup query; two parameters each, well under SQLite's limit."""


class Store:
    def __init__(
        self,
        path: Path,
        *,
        url: str | None = None,
        busy_timeout_ms: int = 5000,
        rejected_keep: int = 10000,
    ) -> None:
        self.path = path
        self.url = url
        """a PostgreSQL URL: the store is there, and `path` is unused"""
        self._busy_timeout_ms = busy_timeout_ms
        self._rejected_keep = rejected_keep
        self._writer: WriterConnection | None = None
        self._pg_writer: PgConnection | None = None
        self._lock: StoreLock | None = None
        self._reader: Reader | None = None

    @property
    def where(self) -> str:
        """The store, for logs (a URL without its password)."""
        return redact(self.url) if self.url else str(self.path)

    async def open(self, *, lead: bool = True) -> None:
        """Open the connections. On PostgreSQL with `lead`, also take the store's lock (waiting
        `pg.LOCK_WAIT_S` for it, then StoreError); without it, the lock is left to `try_lead` and
        `wait_lead` (the hub's standby, docs/HA.md): until then every write is refused."""
        if self.url:
            await asyncio.to_thread(migrate_pg, self.url)
            try:
                name = f"{WRITER_NAME}-{secrets.token_hex(6)}"
                self._lock = (
                    await StoreLock.take(self.url, writer_name=name)
                    if lead
                    else StoreLock(self.url, writer_name=name)
                )
                waits = self._busy_timeout_ms
                self._pg_writer = await PgConnection.open(
                    self.url, read_only=False, lock=self._lock, lock_timeout_ms=waits
                )
                self._reader = await PgConnection.open(
                    self.url, read_only=True, lock_timeout_ms=waits
                )
            except psycopg.Error as exc:
                await self.close()
                raise StoreError(f"cannot open the store {self.where}: {exc}") from exc
            log.info("store: %s open (PostgreSQL)", self.where)
            return
        self._writer = await open_writer(self.path, self._busy_timeout_ms)
        self._reader = await open_reader(self.path, self._busy_timeout_ms)
        log.info("store: %s open (WAL, synchronous=FULL)", self.path)

    @property
    def lock(self) -> StoreLock | None:
        """The store's lock (PostgreSQL only): who writes it."""
        return self._lock

    @property
    def writer_name(self) -> str:
        """The `application_name` of this hub's writing connections on PostgreSQL: a hub that
        takes the store over ends every connection so named (`StoreLock._fence_others`)."""
        return self._lock.writer_name if self._lock is not None else ""

    @property
    def epoch(self) -> int | None:
        """This hub's epoch of the store's lease (PostgreSQL, while it holds the lock)."""
        return self._lock.epoch if self._lock is not None else None

    @property
    def leads(self) -> bool:
        """Whether this hub may write the store now: always on SQLite; on PostgreSQL while it
        holds the lock within its lease."""
        return self._lock is None or self._lock.held

    async def try_lead(self) -> bool:
        """Ask once for the store's lock (PostgreSQL); True on SQLite."""
        if self._lock is None:
            return True
        try:
            return await self._lock.try_take()
        except psycopg.Error as exc:
            log.warning("store: cannot ask for the store's lock: %s", exc)
            return False

    async def wait_lead(self) -> None:
        """Until this hub holds the store's lock (a standby's wait)."""
        if self._lock is not None:
            await self._lock.wait()

    async def close(self) -> None:
        for conn in (self._reader, self._writer, self._pg_writer):
            if conn is not None:
                await conn.close()
        self._reader = self._writer = self._pg_writer = None
        if self._lock is not None:
            await self._lock.release()
            self._lock = None

    @property
    def writer(self) -> WriterConnection | PgConnection:
        """The writer's connection (its reads: `execute_fetchall`)."""
        conn = self._pg_writer or self._writer
        if conn is None:
            raise RuntimeError("the store is not open")
        return conn

    def checkpointer(self, **options: Any) -> Checkpointer | None:
        """The part that checkpoints the SQLite WAL off the press path (none on PostgreSQL)."""
        if self.url:
            return None
        return Checkpointer(
            self.path, self._sqlite_writer, busy_timeout_ms=self._busy_timeout_ms, **options
        )

    def _sqlite_writer(self) -> WriterConnection:
        if self._writer is None:
            raise StoreError("the store's writing connection is closed")
        return self._writer

    @property
    def reader(self) -> Reader:
        if self._reader is None:
            raise RuntimeError("the store is not open")
        return self._reader

    # -- the writer's side -----------------------------------------------------------------------

    async def commit(self, changes: Changes) -> float | None:
        """Commit `changes` in one transaction; return the seconds its COMMIT statement took on
        SQLite (the WAL's fsync), None on PostgreSQL."""
        if self._pg_writer is not None:
            await self._pg_writer.write(changes.statements(self._rejected_keep), changes)
            return None
        if self._writer is None:
            raise RuntimeError("the store is not open")
        return await _changes.apply(self._writer, changes, self._rejected_keep)

    async def data_version(self) -> int:
        """Changes when another connection (a command-line tool) commits."""
        rows: list[Any] = list(await self.writer.execute_fetchall("PRAGMA data_version"))
        return int(rows[0][0]) if rows else 0

    async def find_events(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], str | None]:
        """Which of these (button, event id) pairs are already stored, with their alarm."""
        found: dict[tuple[str, str], str | None] = {}
        for sql, params in _event_lookups(keys):
            for row in await self.writer.execute_fetchall(sql, params):
                found[(row[0], row[1])] = row[2]
        return found

    async def before_plan(
        self, keys: Sequence[tuple[str, str]]
    ) -> tuple[int, dict[tuple[str, str], str | None]]:
        """What the pipeline reads before it plans a batch: `data_version` and `find_events` of
        the batch's presses. On SQLite both in one round trip to the writer's thread (each
        round trip is a wait for that thread and then for the event loop, milliseconds on a
        busy machine); on PostgreSQL one after the other."""
        if self._writer is not None:
            return await self._writer.run(_version_and_events, keys)
        return await self.data_version(), (await self.find_events(keys) if keys else {})

    async def load_registry(self) -> Registry:
        conn = self.writer
        sites = {
            s.id: s for s in map(site_from_row, await conn.execute_fetchall("SELECT * FROM sites"))
        }
        rows = await conn.execute_fetchall("SELECT * FROM buttons")
        buttons = {b.id: b for b in map(button_from_row, rows)}
        return Registry(sites, buttons)

    async def load_state(self) -> HubState:
        conn = self.writer
        [seq_row] = await conn.execute_fetchall("SELECT coalesce(max(seq), 0) + 1 FROM alarms")
        [trouble_row] = await conn.execute_fetchall("SELECT coalesce(max(id), 0) + 1 FROM troubles")
        open_alarms = [
            alarm_from_row(row)
            for row in await conn.execute_fetchall(
                f"SELECT {ALARM_COLUMNS} FROM alarms WHERE state <> 'resolved'"
            )
        ]
        troubles = [
            trouble_from_row(row)
            for row in await conn.execute_fetchall(
                f"SELECT {TROUBLE_COLUMNS} FROM troubles WHERE state = 'open'"
            )
        ]
        devices = [
            device_from_row(row)
            for row in await conn.execute_fetchall(f"SELECT {DEVICE_COLUMNS} FROM device_state")
        ]
        return HubState(
            next_alarm_seq=int(seq_row[0]),
            next_trouble_id=int(trouble_row[0]),
            open_alarms=open_alarms,
            registry=await self.load_registry(),
            troubles=troubles,
            devices=devices,
        )

    async def resolved_since(self, since: str) -> list[Alarm]:
        rows = await self.reader.execute_fetchall(
            f"SELECT {ALARM_COLUMNS} FROM alarms WHERE state = 'resolved' AND resolved_at >= ?",
            (since,),
        )
        return [alarm_from_row(row) for row in rows]

    # -- the API's side (read-only connection) ---------------------------------------------------

    async def list_alarms(
        self,
        *,
        states: Iterable[str] = (),
        site_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        outcome: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Alarm]:
        where: list[str] = []
        params: list[Any] = []
        wanted = list(states)
        if wanted:
            where.append(f"state IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        for clause, value in (
            ("site_id = ?", site_id),
            ("raised_at >= ?", since),
            ("raised_at < ?", until),
            ("outcome = ?", outcome),
        ):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = f"SELECT {ALARM_COLUMNS} FROM alarms"
        if where:
            sql += " WHERE " + " AND ".join(where)
        # Open alarms first, the newest first within each group: the officer's order.
        sql += " ORDER BY state = 'resolved', seq DESC LIMIT ? OFFSET ?"
        params.extend([limit, offset])
        return [alarm_from_row(row) for row in await self.reader.execute_fetchall(sql, params)]

    async def get_alarm(self, alarm_id: str) -> Alarm | None:
        rows = list(
            await self.reader.execute_fetchall(
                f"SELECT {ALARM_COLUMNS} FROM alarms WHERE id = ?", (alarm_id,)
            )
        )
        return alarm_from_row(rows[0]) if rows else None

    async def audit_of_alarm(self, alarm_id: str) -> list[dict[str, Any]]:
        rows = await self.reader.execute_fetchall(
            "SELECT id, ts, actor, action, button_id, detail FROM audit "
            "WHERE alarm_id = ? ORDER BY id",
            (alarm_id,),
        )
        return [
            {
                "id": row["id"],
                "ts": row["ts"],
                "actor": row["actor"],
                "action": row["action"],
                "button": row["button_id"],
                "detail": json.loads(row["detail"]) if row["detail"] else {},
            }
            for row in rows
        ]

    async def presses_of_alarm(self, alarm_id: str) -> list[dict[str, Any]]:
        rows = await self.reader.execute_fetchall(
            "SELECT button_id, event_id, type, received_at, device_ts, battery FROM presses "
            "WHERE alarm_id = ? ORDER BY id",
            (alarm_id,),
        )
        return [dict(row) for row in rows]

    async def list_device_states(self) -> dict[str, DeviceState]:
        rows = await self.reader.execute_fetchall(f"SELECT {DEVICE_COLUMNS} FROM device_state")
        return {row["button_id"]: device_from_row(row) for row in rows}

    async def list_troubles(self, *, open_only: bool = True, limit: int = 500) -> list[Trouble]:
        sql = f"SELECT {TROUBLE_COLUMNS} FROM troubles"
        if open_only:
            sql += " WHERE state = 'open'"
        sql += " ORDER BY id DESC LIMIT ?"
        return [trouble_from_row(row) for row in await self.reader.execute_fetchall(sql, (limit,))]

    async def list_rejected(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self.reader.execute_fetchall(
            "SELECT id, received_at, topic, payload, size, reason, detail, button_id FROM rejected "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [
            {**dict(row), "payload": bytes(row["payload"]).decode("utf-8", "replace")}
            for row in rows
        ]

    async def token_by_hash(self, token_hash: str) -> tuple[str, str] | None:
        """(name, role) of a live token with this hash."""
        rows = list(
            await self.reader.execute_fetchall(
                "SELECT name, role FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
                (token_hash,),
            )
        )
        return (rows[0]["name"], rows[0]["role"]) if rows else None

    async def meta(self, key: str) -> str | None:
        rows = list(
            await self.reader.execute_fetchall("SELECT value FROM meta WHERE key = ?", (key,))
        )
        return rows[0]["value"] if rows else None

    # -- the features' reads (read-only connection) ----------------------------------------------

    async def due_escalations(self, limit: int) -> list[Due]:
        """The escalations with the earliest deadlines, the earliest first."""
        rows = await self.reader.execute_fetchall(
            "SELECT e.subject, e.alarm_id, e.trouble_id, e.policy, e.started_at, "
            "e.progress, e.next_due_at, t.kind, t.subject AS trouble_subject "
            "FROM escalations AS e LEFT JOIN troubles AS t ON t.id = e.trouble_id "
            "WHERE e.next_due_at IS NOT NULL ORDER BY e.next_due_at LIMIT ?",
            (limit,),
        )
        return [due_from_row(row) for row in rows]

    async def escalation_policy(self, alarm_id: str) -> str | None:
        """The name of the policy the alarm's escalation follows, chosen when it was raised."""
        rows = list(
            await self.reader.execute_fetchall(
                "SELECT policy FROM escalations WHERE alarm_id = ?", (alarm_id,)
            )
        )
        return rows[0]["policy"] if rows else None

    async def next_pending_notification(self, notifier: str) -> OutboxRow | None:
        """The pending outbox row of this notifier that is due first."""
        rows = list(
            await self.reader.execute_fetchall(
                f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE notifier = ? AND state = 'pending' "
                "ORDER BY next_attempt_at, seq LIMIT 1",
                (notifier,),
            )
        )
        return outbox_from_row(rows[0]) if rows else None

    async def pending_notifiers(self) -> set[str]:
        rows = await self.reader.execute_fetchall(
            "SELECT DISTINCT notifier FROM outbox WHERE state = 'pending'"
        )
        return {row[0] for row in rows}

    async def other_active_alarm(self, notifier: str, alarm_id: str) -> str | None:
        """Another active alarm that this notifier was switched on for, if any."""
        rows = list(
            await self.reader.execute_fetchall(
                "SELECT a.id FROM outbox AS o JOIN alarms AS a ON a.id = o.alarm_id "
                "WHERE o.notifier = ? AND o.event = 'alarm' AND o.state <> 'cancelled' "
                "AND a.state = 'active' AND a.id <> ? LIMIT 1",
                (notifier, alarm_id),
            )
        )
        return str(rows[0][0]) if rows else None

    async def list_users(self, now: datetime) -> list[UserListing]:
        """Every user, by name, with the count of their sessions live at `now`."""
        rows = await self.reader.execute_fetchall(
            "SELECT u.username, u.role, u.created_at, u.display_name, "
            "(SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > ?), "
            "u.disabled_at FROM users u ORDER BY u.username",
            (iso(now),),
        )
        return [
            UserListing(row[0], Role(row[1]), row[2], row[3], int(row[4]), row[5]) for row in rows
        ]

    async def find_user(self, username: str) -> UserRecord | None:
        rows = list(
            await self.reader.execute_fetchall(
                "SELECT id, username, role, password_hash, disabled_at IS NOT NULL FROM users "
                "WHERE username = ?",
                (username,),
            )
        )
        if not rows:
            return None
        row = rows[0]
        return UserRecord(row[0], row[1], Role(row[2]), row[3], bool(row[4]))

    async def find_session(self, id_hash: str, now: datetime) -> SessionRecord | None:
        """The live session with this hash, with its user's current role."""
        rows = list(
            await self.reader.execute_fetchall(
                "SELECT u.username, u.role, s.expires_at FROM sessions s "
                "JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND s.expires_at > ? "
                "AND u.disabled_at IS NULL",
                (id_hash, iso(now)),
            )
        )
        if not rows:
            return None
        row = rows[0]
        return SessionRecord(row[0], Role(row[1]), row[2])

    async def list_tokens(self) -> list[TokenRow]:
        """Every API token, live ones first, by name (never the hash)."""
        rows = await self.reader.execute_fetchall(
            "SELECT name, role, created_at, revoked_at, created_by FROM api_tokens "
            "ORDER BY revoked_at IS NOT NULL, name, created_at"
        )
        return [TokenRow(row[0], row[1], row[2], row[3], row[4]) for row in rows]

    # -- upstream and the district (docs/DISTRICT.md) --------------------------------------------

    async def upstream_pending(self, limit: int) -> list[UpstreamRow]:
        """The oldest changes the district has not acknowledged, in the order they happened."""
        rows = await self.reader.execute_fetchall(
            "SELECT seq, alarm_id, change_seq, change, body FROM upstream "
            "WHERE acked_at IS NULL ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [UpstreamRow(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    async def post_last_changes(self) -> dict[tuple[str, str], int]:
        """At a district: the last change applied of every post's alarm."""
        rows = await self.reader.execute_fetchall(
            "SELECT post_id, alarm_id, max(change_seq) FROM post_changes GROUP BY post_id, alarm_id"
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    async def post_origins(self) -> dict[str, str]:
        """At a district: the post that raised alarms on record → the one that sent them (the
        post itself, or the district that forwarded them)."""
        rows = await self.reader.execute_fetchall(
            "SELECT DISTINCT a.post_id, c.post_id FROM post_changes c"
            " JOIN alarms a ON a.id = c.alarm_id WHERE a.post_id IS NOT NULL"
        )
        return {str(r[0]): str(r[1]) for r in rows}

    async def post_alarms_raised(self) -> dict[tuple[str, str], str]:
        """At a district: when each alarm on record was raised (UTC ISO-8601), by the post that
        sent it (a district forwarding its posts' alarms, at a province); this tells a new alarm
        of a post whose store was replaced from an old one with the same id."""
        rows = await self.reader.execute_fetchall(
            "SELECT DISTINCT c.post_id, a.id, a.raised_at FROM post_changes c"
            " JOIN alarms a ON a.id = c.alarm_id"
        )
        return {(r[0], r[1]): str(r[2]) for r in rows}

    async def posts(self) -> list[PostRecord]:
        rows = await self.reader.execute_fetchall(
            "SELECT id, name, period_s FROM posts ORDER BY id"
        )
        return [PostRecord(r[0], r[1], float(r[2])) for r in rows]

    async def post_changes(self, alarm_id: str) -> list[RecordPostChange]:
        """At a district: the changes of one post's alarm as received, in order."""
        rows = await self.reader.execute_fetchall(
            "SELECT post_id, alarm_id, change_seq, change, actor, at, received_at, body "
            "FROM post_changes WHERE alarm_id = ? ORDER BY post_id, change_seq",
            (alarm_id,),
        )
        return [
            RecordPostChange(
                r[0], r[1], r[2], r[3], r[4], parse_iso(r[5]), parse_iso(r[6]), json.loads(r[7])
            )
            for r in rows
        ]

    async def untested_buttons(self, cutoff: datetime) -> list[UntestedButton]:
        """Buttons without a test press since `cutoff`: never tested first, then the longest
        untested."""
        rows = await self.reader.execute_fetchall(UNTESTED_SQL, (iso(cutoff),))
        return [untested_from_row(row) for row in rows]


def _event_lookups(keys: Sequence[tuple[str, str]]) -> Iterable[tuple[str, list[str]]]:
    """The queries of `Store.find_events`: (sql, parameters), `EVENT_LOOKUP_CHUNK` keys each."""
    for start in range(0, len(keys), EVENT_LOOKUP_CHUNK):
        chunk = keys[start : start + EVENT_LOOKUP_CHUNK]
        values = ", ".join("(?, ?)" for _ in chunk)
        sql = (
            f"SELECT p.button_id, p.event_id, p.alarm_id FROM (VALUES {values}) AS k "
            "JOIN presses AS p ON p.button_id = k.column1 AND p.event_id = k.column2"
        )
        yield sql, [part for key in chunk for part in key]


def _version_and_events(
    conn: sqlite3.Connection, keys: Sequence[tuple[str, str]]
) -> tuple[int, dict[tuple[str, str], str | None]]:
    """`Store.before_plan` on the writer's thread."""
    version = int(conn.execute("PRAGMA data_version").fetchone()[0])
    found: dict[tuple[str, str], str | None] = {}
    for sql, params in _event_lookups(keys):
        for row in conn.execute(sql, params):
            found[(row[0], row[1])] = row[2]
    return version, found
