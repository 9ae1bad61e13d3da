"""One batch's rows, and writing them in one transaction.

`Changes` is what the planner produces: every row a batch adds or changes, for every table. The
writer commits it with `apply`, all or nothing: a press is never stored without its alarm, nor an
alarm without its audit entries (and, once escalation is configured, its deadline).

Other parts add typed operations (`hub.store.ops`) to `ops`; each becomes its statement here,
executed in order after the core tables, inside the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeAlias, TypeVar

from hub.clock import iso
from hub.domain.model import Alarm, DeviceState, Trouble
from hub.store import ops as o
from hub.store.db import WriterConnection
from hub.store.ops import Op, PressRow
from hub.store.rows import (
    ALARM_COLUMNS,
    DEVICE_COLUMNS,
    TROUBLE_COLUMNS,
    alarm_to_row,
    device_to_row,
    patterns_to_text,
    trouble_to_row,
)

OpT = TypeVar("OpT")

REJECTED_PAYLOAD_KEEP: Final = 1024
"""Bytes of a rejected payload kept in the log (its full size is recorded too)."""


def _upsert(table: str, columns: str, key: str) -> str:
    names = [name.strip() for name in columns.split(",")]
    placeholders = ", ".join("?" for _ in names)
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name != key)
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT({key}) DO UPDATE SET {updates}"
    )


_ALARM_UPSERT: Final = _upsert("alarms", ALARM_COLUMNS, "id")
_DEVICE_UPSERT: Final = _upsert("device_state", DEVICE_COLUMNS, "button_id")
_TROUBLE_UPSERT: Final = _upsert("troubles", TROUBLE_COLUMNS, "id")
_PRESS_INSERT: Final = (
    f"INSERT INTO presses ({', '.join(PressRow._fields)}) "
    f"VALUES ({', '.join('?' for _ in PressRow._fields)})"
)
_AUDIT_INSERT: Final = (
    "INSERT INTO audit (ts, actor, action, alarm_id, button_id, trouble_id, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_REJECTED_INSERT: Final = (
    "INSERT INTO rejected (received_at, topic, payload, size, reason, detail, button_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_META_UPSERT: Final = _upsert("meta", "key, value", "key")
_REJECTED_PRUNE: Final = "DELETE FROM rejected WHERE id <= (SELECT max(id) FROM rejected) - ?"


@dataclass(slots=True)
class Changes:
    presses: list[PressRow] = field(default_factory=list)
    alarms: dict[str, Alarm] = field(default_factory=dict)
    audit: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: list[tuple[Any, ...]] = field(default_factory=list)
    devices: dict[str, DeviceState] = field(default_factory=dict)
    troubles: dict[int, Trouble] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (
                self.presses,
                self.alarms,
                self.audit,
                self.rejected,
                self.devices,
                self.troubles,
                self.meta,
                self.ops,
            )
        )

    def add_audit(
        self,
        ts: str,
        actor: str,
        action: str,
        *,
        alarm_id: str | None = None,
        button_id: str | None = None,
        trouble_id: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        text = json.dumps(detail, ensure_ascii=False, separators=(",", ":")) if detail else None
        self.audit.append((ts, actor, action, alarm_id, button_id, trouble_id, text))

    def add_rejected(
        self,
        ts: str,
        topic: str,
        payload: bytes,
        reason: str,
        detail: str,
        button_id: str | None,
    ) -> None:
        self.rejected.append(
            (ts, topic, payload[:REJECTED_PAYLOAD_KEEP], len(payload), reason, detail, button_id)
        )

    def statements(self, rejected_keep: int) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """Every statement of the batch's transaction with its rows, in the order they run."""
        found: list[tuple[str, list[tuple[Any, ...]]]] = []
        if self.alarms:
            found.append((_ALARM_UPSERT, [alarm_to_row(a) for a in self.alarms.values()]))
        if self.presses:
            found.append((_PRESS_INSERT, list(self.presses)))
        if self.troubles:
            found.append((_TROUBLE_UPSERT, [trouble_to_row(t) for t in self.troubles.values()]))
        if self.audit:
            found.append((_AUDIT_INSERT, self.audit))
        if self.rejected:
            found.append((_REJECTED_INSERT, self.rejected))
            found.append((_REJECTED_PRUNE, [(rejected_keep,)]))
        if self.devices:
            found.append((_DEVICE_UPSERT, [device_to_row(d) for d in self.devices.values()]))
        if self.meta:
            found.append((_META_UPSERT, list(self.meta.items())))
        found.extend((sql, [row]) for sql, row in map(statement_of, self.ops))
        return found


_ESCALATION_START: Final = (
    "INSERT OR IGNORE INTO escalations (subject, alarm_id, trouble_id, site_id, policy, "
    "started_at, progress, next_due_at, state, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, '{}', ?, 'running', ?)"
)
_ESCALATION_UPDATE: Final = (
    "UPDATE escalations SET progress = ?, next_due_at = ?, state = ?, updated_at = ? "
    "WHERE subject = ?"
)
_ESCALATION_RECHECK_SITE: Final = (
    "UPDATE escalations SET next_due_at = ? WHERE site_id = ? AND trouble_id IS NOT NULL "
    "AND state = 'running' AND next_due_at > ?"
)
_ESCALATION_STOP: Final = (
    "UPDATE escalations SET state = 'stopped', next_due_at = NULL, updated_at = ? "
    "WHERE subject = ? AND state = 'running'"
)
_OUTBOX_INSERT: Final = (
    "INSERT OR IGNORE INTO outbox (key, notifier, event, alarm_id, trouble_id, body, state, "
    "created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)"
)
_OUTBOX_CANCEL_ALARM: Final = (
    "UPDATE outbox SET state = 'cancelled', finished_at = ? "
    "WHERE alarm_id = ? AND event = 'alarm' AND state = 'pending'"
)
_OUTBOX_CANCEL_NOTIFIER: Final = _OUTBOX_CANCEL_ALARM + " AND notifier = ?"
_OUTBOX_CANCEL_TROUBLE: Final = (
    "UPDATE outbox SET state = 'cancelled', finished_at = ? "
    "WHERE trouble_id = ? AND state = 'pending'"
)
_OUTBOX_ATTEMPT: Final = "UPDATE outbox SET attempts = ? WHERE seq = ?"
_OUTBOX_RETRY: Final = "UPDATE outbox SET last_error = ?, next_attempt_at = ? WHERE seq = ?"
_OUTBOX_FINISH: Final = (
    "UPDATE outbox SET state = ?, last_error = ?, finished_at = ?, attempts = ? WHERE seq = ?"
)
_OUTBOX_ABANDON: Final = (
    "UPDATE outbox SET state = 'failed', last_error = ?, finished_at = ? "
    "WHERE notifier = ? AND state = 'pending'"
)
_SITE_INSERT: Final = (
    "INSERT INTO sites (id, name, address, phone, lat, lon, test_mode, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_BUTTON_INSERT: Final = (
    "INSERT INTO buttons (id, site_id, label, profile, native_id, test_mode, power, checkin_s, "
    "kind, press_patterns, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
TEST_MODE_UPDATE: Final = {
    "button": "UPDATE buttons SET test_mode = ?, test_until = ?, updated_at = ? WHERE id = ?",
    "site": "UPDATE sites SET test_mode = ?, test_until = ?, updated_at = ? WHERE id = ?",
}
_SITE_UPDATE: Final = (
    "UPDATE sites SET name = ?, address = ?, phone = ?, lat = ?, lon = ?, updated_at = ? "
    "WHERE id = ?"
)
_BUTTON_UPDATE: Final = (
    "UPDATE buttons SET site_id = ?, label = ?, checkin_s = ?, power = ?, kind = ?, "
    "press_patterns = ?, updated_at = ? WHERE id = ?"
)
# Users from the page (hub/web/users.py): none of these can fail in a batch that carries presses
# (a name taken or gone meanwhile changes nothing; the API reads what happened).
_USER_INSERT: Final = (
    "INSERT OR IGNORE INTO users "
    "(username, role, password_hash, display_name, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_USER_SET: Final = {
    "role": "UPDATE users SET role = ?, updated_at = ? WHERE username = ?",
    "password_hash": "UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?",
    "display_name": "UPDATE users SET display_name = ?, updated_at = ? WHERE username = ?",
    "disabled_at": "UPDATE users SET disabled_at = ?, updated_at = ? WHERE username = ?",
}
_API_KEY_INSERT: Final = (
    "INSERT OR IGNORE INTO api_tokens (name, role, token_hash, created_at, created_by) "
    "VALUES (?, ?, ?, ?, ?)"
)
_API_KEY_REVOKE: Final = (
    "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL"
)
_USER_END_SESSIONS: Final = (
    "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE username = ?)"
)
_USER_DELETE: Final = "DELETE FROM users WHERE username = ?"
_SESSIONS_DELETE_EXPIRED: Final = "DELETE FROM sessions WHERE expires_at <= ?"
_SESSION_INSERT: Final = (
    "INSERT INTO sessions (id_hash, user_id, created_at, expires_at, address) "
    "VALUES (?, ?, ?, ?, ?)"
)
_USER_REHASH: Final = "UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?"
_SESSION_DELETE: Final = "DELETE FROM sessions WHERE id_hash = ?"


_UPSTREAM_INSERT: Final = (
    "INSERT INTO upstream (alarm_id, change_seq, change, body, queued_at) "
    "SELECT ?, coalesce(max(change_seq), 0) + 1, ?, ?, ? FROM upstream WHERE alarm_id = ?"
)
_UPSTREAM_ACKED: Final = "UPDATE upstream SET acked_at = ? WHERE acked_at IS NULL AND seq IN ({})"
_POST_CHANGE_INSERT: Final = (
    "INSERT OR IGNORE INTO post_changes "
    "(post_id, alarm_id, change_seq, change, actor, at, received_at, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_POST_UPSERT: Final = (
    "INSERT INTO posts (id, name, period_s, first_seen) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET name = excluded.name, period_s = excluded.period_s"
)


def _opt_iso(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


Statement: TypeAlias = tuple[str, tuple[Any, ...]]
_MAKERS: dict[type[Any], Callable[[Any], Statement]] = {}


def _makes(kind: type[OpT]) -> Callable[[Callable[[OpT], Statement]], Callable[[OpT], Statement]]:
    def register(fn: Callable[[OpT], Statement]) -> Callable[[OpT], Statement]:
        _MAKERS[kind] = fn
        return fn

    return register


def statement_of(op: Op) -> Statement:
    """The statement of one operation, with its parameters."""
    maker = _MAKERS.get(type(op))
    if maker is None:
        raise TypeError(f"the store has no statement for {op!r}")
    return maker(op)


@_makes(o.StartEscalation)
def _start_escalation(op: o.StartEscalation) -> Statement:
    return _ESCALATION_START, (
        op.subject,
        op.alarm_id,
        op.trouble_id,
        op.site_id,
        op.policy,
        iso(op.started_at),
        _opt_iso(op.next_due_at),
        iso(op.at),
    )


@_makes(o.UpdateEscalation)
def _update_escalation(op: o.UpdateEscalation) -> Statement:
    progress = json.dumps({str(k): v for k, v in sorted(op.progress.items())})
    return _ESCALATION_UPDATE, (
        progress,
        _opt_iso(op.next_due_at),
        op.state,
        iso(op.at),
        op.subject,
    )


@_makes(o.RecheckSiteTroubles)
def _recheck_site(op: o.RecheckSiteTroubles) -> Statement:
    return _ESCALATION_RECHECK_SITE, (iso(op.at), op.site_id, iso(op.at))


@_makes(o.StopEscalation)
def _stop_escalation(op: o.StopEscalation) -> Statement:
    return _ESCALATION_STOP, (iso(op.at), op.subject)


@_makes(o.QueueNotification)
def _queue_notification(op: o.QueueNotification) -> Statement:
    at = iso(op.at)
    body = json.dumps(op.body, ensure_ascii=False, separators=(",", ":"))
    return _OUTBOX_INSERT, (op.key, op.notifier, op.event, op.alarm_id, op.trouble_id, body, at, at)


@_makes(o.CancelAlarmNotifications)
def _cancel_alarm(op: o.CancelAlarmNotifications) -> Statement:
    return _OUTBOX_CANCEL_ALARM, (iso(op.at), op.alarm_id)


@_makes(o.CancelNotifierForAlarm)
def _cancel_notifier(op: o.CancelNotifierForAlarm) -> Statement:
    return _OUTBOX_CANCEL_NOTIFIER, (iso(op.at), op.alarm_id, op.notifier)


@_makes(o.CancelTroubleNotifications)
def _cancel_trouble(op: o.CancelTroubleNotifications) -> Statement:
    return _OUTBOX_CANCEL_TROUBLE, (iso(op.at), op.trouble_id)


@_makes(o.RecordNotificationAttempt)
def _attempt(op: o.RecordNotificationAttempt) -> Statement:
    return _OUTBOX_ATTEMPT, (op.attempts, op.seq)


@_makes(o.RetryNotification)
def _retry(op: o.RetryNotification) -> Statement:
    return _OUTBOX_RETRY, (op.error, iso(op.next_attempt_at), op.seq)


@_makes(o.FinishNotification)
def _finish(op: o.FinishNotification) -> Statement:
    return _OUTBOX_FINISH, (op.state, op.error, iso(op.at), op.attempts, op.seq)


@_makes(o.AbandonNotifier)
def _abandon(op: o.AbandonNotifier) -> Statement:
    return _OUTBOX_ABANDON, (op.error, iso(op.at), op.notifier)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@_makes(o.QueueUpstream)
def _queue_upstream(op: o.QueueUpstream) -> Statement:
    return _UPSTREAM_INSERT, (op.alarm_id, op.change, _json(op.body), iso(op.at), op.alarm_id)


@_makes(o.MarkUpstreamAcked)
def _upstream_acked(op: o.MarkUpstreamAcked) -> Statement:
    marks = ", ".join("?" for _ in op.seqs)
    return _UPSTREAM_ACKED.format(marks), (iso(op.at), *op.seqs)


@_makes(o.RecordPostChange)
def _post_change(op: o.RecordPostChange) -> Statement:
    return _POST_CHANGE_INSERT, (
        op.post_id,
        op.alarm_id,
        op.change_seq,
        op.change,
        op.actor,
        iso(op.at),
        iso(op.received_at),
        _json(op.body),
    )


@_makes(o.UpsertPost)
def _upsert_post(op: o.UpsertPost) -> Statement:
    return _POST_UPSERT, (op.post_id, op.name, op.period_s, iso(op.at))


@_makes(o.InsertSite)
def _insert_site(op: o.InsertSite) -> Statement:
    site, at = op.site, iso(op.at)
    values = (site.id, site.name, site.address, site.phone, site.lat, site.lon)
    return _SITE_INSERT, (*values, int(site.test_mode), at, at)


@_makes(o.DeleteSite)
def _delete_site(op: o.DeleteSite) -> Statement:
    return "DELETE FROM sites WHERE id = ?", (op.site_id,)


@_makes(o.InsertButton)
def _insert_button(op: o.InsertButton) -> Statement:
    button, at = op.button, iso(op.at)
    values = (button.id, button.site_id, button.label, button.profile, button.native_id)
    kinds = (button.kind.value, patterns_to_text(button.press_patterns))
    return _BUTTON_INSERT, (
        *values,
        int(button.test_mode),
        button.power,
        button.checkin_s,
        *kinds,
        at,
        at,
    )


@_makes(o.DeleteButton)
def _delete_button(op: o.DeleteButton) -> Statement:
    return "DELETE FROM buttons WHERE id = ?", (op.button_id,)


@_makes(o.UpdateTestMode)
def _test_mode(op: o.UpdateTestMode) -> Statement:
    until = None if op.until is None else iso(op.until)
    return TEST_MODE_UPDATE[op.kind], (int(op.on), until, iso(op.at), op.subject)


@_makes(o.UpdateSite)
def _update_site(op: o.UpdateSite) -> Statement:
    site = op.site
    return _SITE_UPDATE, (
        site.name,
        site.address,
        site.phone,
        site.lat,
        site.lon,
        iso(op.at),
        site.id,
    )


@_makes(o.UpdateButton)
def _update_button(op: o.UpdateButton) -> Statement:
    button = op.button
    values = (
        button.site_id,
        button.label,
        button.checkin_s,
        button.power,
        button.kind.value,
        patterns_to_text(button.press_patterns),
        iso(op.at),
        button.id,
    )
    return _BUTTON_UPDATE, values


@_makes(o.InsertUser)
def _insert_user(op: o.InsertUser) -> Statement:
    at = iso(op.at)
    return _USER_INSERT, (op.username, op.role.value, op.password_hash, op.display_name, at, at)


@_makes(o.SetUserField)
def _set_user_field(op: o.SetUserField) -> Statement:
    return _USER_SET[op.field], (op.value, iso(op.at), op.username)


@_makes(o.InsertToken)
def _insert_token(op: o.InsertToken) -> Statement:
    return _API_KEY_INSERT, (op.name, op.role.value, op.token_hash, iso(op.at), op.created_by)


@_makes(o.RevokeToken)
def _revoke_token(op: o.RevokeToken) -> Statement:
    return _API_KEY_REVOKE, (iso(op.at), op.name)


@_makes(o.EndUserSessions)
def _end_user_sessions(op: o.EndUserSessions) -> Statement:
    return _USER_END_SESSIONS, (op.username,)


@_makes(o.DeleteUser)
def _delete_user(op: o.DeleteUser) -> Statement:
    return _USER_DELETE, (op.username,)


@_makes(o.DeleteExpiredSessions)
def _delete_expired(op: o.DeleteExpiredSessions) -> Statement:
    return _SESSIONS_DELETE_EXPIRED, (iso(op.at),)


@_makes(o.InsertSession)
def _insert_session(op: o.InsertSession) -> Statement:
    times = (iso(op.created_at), iso(op.expires_at))
    return _SESSION_INSERT, (op.id_hash, op.user_id, *times, op.address)


@_makes(o.RehashPassword)
def _rehash(op: o.RehashPassword) -> Statement:
    return _USER_REHASH, (op.password_hash, iso(op.at), op.user_id)


@_makes(o.DeleteSession)
def _delete_session(op: o.DeleteSession) -> Statement:
    return _SESSION_DELETE, (op.id_hash,)


def _write(conn: sqlite3.Connection, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> float:
    """The transaction; returns the seconds its COMMIT took (with `synchronous=FULL`, the WAL's
    fsync: what a commit costs the disk)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, rows in statements:
            conn.executemany(sql, rows)
        started = time.perf_counter()
        conn.execute("COMMIT")
        return time.perf_counter() - started
    except BaseException:
        if conn.in_transaction:  # a failed COMMIT may have rolled back already
            conn.rollback()
        raise


async def apply(conn: WriterConnection, changes: Changes, rejected_keep: int) -> float:
    """Write every row of `changes` in one IMMEDIATE transaction, or none of them.

    The rows are made here, on the event loop; the transaction runs on the connection's thread
    in one round trip (`WriterConnection.run`), where SQLite releases the GIL while it works.
    Returns the seconds the COMMIT statement took."""
    return await conn.run(_write, changes.statements(rejected_keep))
