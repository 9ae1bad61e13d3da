"""The durable outbox: a notification is a row before it is a message.

Rows are added inside a pipeline plan (`queue`), so they commit with the change that caused them
(an escalation step, an acknowledgement that switches a siren off). The dispatcher reads pending
rows, sends them, and records every attempt through the pipeline (`RecordAttempt`,
`RecordOutcome`), each with its audit entry:

    notify.queued ─▶ notify.attempt ─▶ notify.delivered
                          ▲      └───▶ notify.failed (retry: next_attempt_at) ─┐
                          └────────────────────────────────────────────────────┘
                                 └───▶ notify.failed (final: permanent error, or given up)

A row for an alarm that is acknowledged or resolved before it went out is cancelled (nobody needs
to be called any more); a row being sent at that moment still completes. Delivery is at least
once: a crash between sending and recording sends the message again after the restart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import aiosqlite

from hub.clock import iso, parse_iso
from hub.writer.plan import Command, Plan

_INSERT: Final = (
    "INSERT OR IGNORE INTO outbox (key, notifier, event, alarm_id, trouble_id, body, state, "
    "created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)"
)
_CANCEL_ALARM: Final = (
    "UPDATE outbox SET state = 'cancelled', finished_at = ? "
    "WHERE alarm_id = ? AND event = 'alarm' AND state = 'pending'"
)
_CANCEL_TROUBLE: Final = (
    "UPDATE outbox SET state = 'cancelled', finished_at = ? "
    "WHERE trouble_id = ? AND state = 'pending'"
)
_ATTEMPT: Final = "UPDATE outbox SET attempts = ? WHERE seq = ?"
_RETRY: Final = "UPDATE outbox SET last_error = ?, next_attempt_at = ? WHERE seq = ?"
_FINISH: Final = (
    "UPDATE outbox SET state = ?, last_error = ?, finished_at = ?, attempts = ? WHERE seq = ?"
)
_ABANDON: Final = (
    "UPDATE outbox SET state = 'failed', last_error = ?, finished_at = ? "
    "WHERE notifier = ? AND state = 'pending'"
)
_COLUMNS: Final = (
    "seq, key, notifier, event, alarm_id, trouble_id, body, created_at, next_attempt_at, attempts"
)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    key: str
    notifier: str
    event: str
    """alarm (a step fired), clear (the alarm no longer needs a device on), trouble"""
    alarm_id: str | None
    trouble_id: int | None
    body: dict[str, Any]
    created_at: datetime
    next_attempt_at: datetime
    attempts: int


def queue(
    plan: Plan,
    *,
    key: str,
    notifier: str,
    event: str,
    body: dict[str, Any],
    alarm_id: str | None = None,
    trouble_id: int | None = None,
) -> None:
    """Add one notification to the plan, with its `notify.queued` audit entry."""
    now = iso(plan.now)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    plan.changes.extra.append(
        (_INSERT, [(key, notifier, event, alarm_id, trouble_id, text, now, now)])
    )
    plan.audit(
        "notify.queued",
        "hub",
        alarm_id=alarm_id,
        trouble_id=trouble_id,
        notifier=notifier,
        delivery=key,
        event=event,
        step=body.get("step"),
        round=body.get("round"),
    )


def cancel_for_alarm(plan: Plan, alarm_id: str) -> None:
    plan.changes.extra.append((_CANCEL_ALARM, [(iso(plan.now), alarm_id)]))


def cancel_for_trouble(plan: Plan, trouble_id: int) -> None:
    plan.changes.extra.append((_CANCEL_TROUBLE, [(iso(plan.now), trouble_id)]))


def _row(row: Any) -> OutboxRow:
    return OutboxRow(
        seq=row["seq"],
        key=row["key"],
        notifier=row["notifier"],
        event=row["event"],
        alarm_id=row["alarm_id"],
        trouble_id=row["trouble_id"],
        body=json.loads(row["body"]),
        created_at=parse_iso(row["created_at"]),
        next_attempt_at=parse_iso(row["next_attempt_at"]),
        attempts=row["attempts"],
    )


async def next_pending(conn: aiosqlite.Connection, notifier: str) -> OutboxRow | None:
    """The pending row of this notifier that is due first."""
    rows = list(
        await conn.execute_fetchall(
            f"SELECT {_COLUMNS} FROM outbox WHERE notifier = ? AND state = 'pending' "
            "ORDER BY next_attempt_at, seq LIMIT 1",
            (notifier,),
        )
    )
    return _row(rows[0]) if rows else None


async def pending_notifiers(conn: aiosqlite.Connection) -> set[str]:
    rows = await conn.execute_fetchall(
        "SELECT DISTINCT notifier FROM outbox WHERE state = 'pending'"
    )
    return {row[0] for row in rows}


async def other_active_alarm(
    conn: aiosqlite.Connection, notifier: str, alarm_id: str
) -> str | None:
    """Another active alarm that this notifier was switched on for, if any: a shared siren must
    stay on until the last of them is acknowledged."""
    rows = list(
        await conn.execute_fetchall(
            "SELECT a.id FROM outbox AS o JOIN alarms AS a ON a.id = o.alarm_id "
            "WHERE o.notifier = ? AND o.event = 'alarm' AND o.state <> 'cancelled' "
            "AND a.state = 'active' AND a.id <> ? LIMIT 1",
            (notifier, alarm_id),
        )
    )
    return str(rows[0][0]) if rows else None


@dataclass(slots=True)
class RecordAttempt(Command):
    """On the record before the message leaves: a crash mid-send still shows the attempt."""

    row: OutboxRow
    attempt: int

    def plan(self, plan: Plan) -> None:
        plan.changes.extra.append((_ATTEMPT, [(self.attempt, self.row.seq)]))
        plan.audit(
            "notify.attempt",
            "hub",
            alarm_id=self.row.alarm_id,
            trouble_id=self.row.trouble_id,
            notifier=self.row.notifier,
            delivery=self.row.key,
            attempt=self.attempt,
        )


@dataclass(slots=True)
class RecordOutcome(Command):
    row: OutboxRow
    attempt: int
    error: str | None = None
    """None: delivered"""
    retry_at: datetime | None = None
    """For a failure: when to try again; None: the failure is final."""
    note: str | None = None

    def plan(self, plan: Plan) -> None:
        row, now = self.row, iso(plan.now)
        if self.error is None:
            plan.changes.extra.append((_FINISH, [("delivered", None, now, self.attempt, row.seq)]))
            action = "notify.delivered"
        elif self.retry_at is not None:
            plan.changes.extra.append((_RETRY, [(self.error, iso(self.retry_at), row.seq)]))
            action = "notify.failed"
        else:
            plan.changes.extra.append(
                (_FINISH, [("failed", self.error, now, self.attempt, row.seq)])
            )
            action = "notify.failed"
        plan.audit(
            action,
            "hub",
            alarm_id=row.alarm_id,
            trouble_id=row.trouble_id,
            notifier=row.notifier,
            delivery=row.key,
            attempt=self.attempt,
            error=self.error,
            retry_at=iso(self.retry_at) if self.retry_at else None,
            final=True if self.error is not None and self.retry_at is None else None,
            note=self.note,
        )


@dataclass(slots=True)
class Abandon(Command):
    """Pending rows of a notifier that is no longer configured: failed, on the record."""

    notifier: str

    def plan(self, plan: Plan) -> None:
        error = "the notifier is no longer configured"
        plan.changes.extra.append((_ABANDON, [(error, iso(plan.now), self.notifier)]))
        plan.audit("notify.failed", "hub", notifier=self.notifier, error=error, final=True)
