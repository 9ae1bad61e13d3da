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

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.clock import iso
from hub.store.ops import (
    AbandonNotifier,
    CancelAlarmNotifications,
    CancelTroubleNotifications,
    FinishNotification,
    OutboxRow,
    QueueNotification,
    RecordNotificationAttempt,
    RetryNotification,
)
from hub.writer.plan import Command, Plan


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
    plan.write(
        QueueNotification(
            key, notifier, event, body, plan.now, alarm_id=alarm_id, trouble_id=trouble_id
        )
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
    plan.write(CancelAlarmNotifications(alarm_id, plan.now))


def cancel_for_trouble(plan: Plan, trouble_id: int) -> None:
    plan.write(CancelTroubleNotifications(trouble_id, plan.now))


@dataclass(slots=True)
class RecordAttempt(Command):
    """On the record before the message leaves: a crash mid-send still shows the attempt."""

    row: OutboxRow
    attempt: int

    def plan(self, plan: Plan) -> None:
        plan.write(RecordNotificationAttempt(self.row.seq, self.attempt))
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
        row = self.row
        if self.error is None:
            plan.write(FinishNotification(row.seq, "delivered", None, self.attempt, plan.now))
            action = "notify.delivered"
        elif self.retry_at is not None:
            plan.write(RetryNotification(row.seq, self.error, self.retry_at))
            action = "notify.failed"
        else:
            plan.write(FinishNotification(row.seq, "failed", self.error, self.attempt, plan.now))
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
        plan.write(AbandonNotifier(self.notifier, error, plan.now))
        plan.audit("notify.failed", "hub", notifier=self.notifier, error=error, final=True)
