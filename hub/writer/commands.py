"""Commands: changes asked for by people (through the API) and by the hub's own watchers.

Each runs inside a pipeline batch, in order with the presses around it, and commits with its
audit entries. Each validates before it changes anything, and refuses with a `ChuongError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.domain import alarms
from hub.domain.bus import BrokerConnected, BrokerDisconnected
from hub.domain.model import Alarm, AlarmChange, Outcome, Trouble, TroubleKind
from hub.errors import AlarmNotFound, InvalidTransition
from hub.writer.plan import Command, Plan


@dataclass(slots=True)
class AcknowledgeAlarm(Command):
    alarm_id: str
    actor: str
    note: str | None = None

    def plan(self, plan: Plan) -> Alarm:
        alarm = _open_alarm(plan, self.alarm_id)
        updated = alarms.acknowledge(alarm, self.actor, plan.now)
        plan.save_alarm(updated, AlarmChange.ACKNOWLEDGED, self.actor, note=self.note or None)
        return updated


@dataclass(slots=True)
class ResolveAlarm(Command):
    alarm_id: str
    actor: str
    outcome: Outcome
    note: str
    may_skip_ack: bool = False

    def plan(self, plan: Plan) -> Alarm:
        alarm = _open_alarm(plan, self.alarm_id)
        updated = alarms.resolve(
            alarm, self.actor, plan.now, self.outcome, self.note, may_skip_ack=self.may_skip_ack
        )
        plan.save_alarm(
            updated, AlarmChange.RESOLVED, self.actor, outcome=self.outcome.value, note=self.note
        )
        return updated


def _open_alarm(plan: Plan, alarm_id: str) -> Alarm:
    alarm = plan.draft.alarm(alarm_id)
    if alarm is None:
        # Not open: the caller (the API) tells "resolved" (409) from "unknown" (404).
        raise AlarmNotFound(alarm_id)
    refuse_post_alarm(alarm)
    return alarm


def refuse_post_alarm(alarm: Alarm) -> None:
    """At a district: a post's alarm is acknowledged and resolved at its post, not here."""
    if alarm.post is not None:
        raise InvalidTransition(
            f"alarm {alarm.id} belongs to post {alarm.post.name or alarm.post.id}: it is "
            "acknowledged and resolved there; call the post (docs/DISTRICT.md)"
        )


@dataclass(slots=True)
class RaiseTrouble(Command):
    kind: TroubleKind
    subject: str
    detail: str = ""
    site_id: str | None = None

    def plan(self, plan: Plan) -> Trouble | None:
        return plan.raise_trouble(self.kind, self.subject, detail=self.detail, site_id=self.site_id)


@dataclass(slots=True)
class ClearTrouble(Command):
    kind: TroubleKind
    subject: str
    detail: str = ""

    def plan(self, plan: Plan) -> Trouble | None:
        return plan.clear_trouble(self.kind, self.subject, detail=self.detail)


@dataclass(slots=True)
class SetMeta(Command):
    key: str
    value: str

    def plan(self, plan: Plan) -> None:
        plan.changes.meta[self.key] = self.value


@dataclass(slots=True)
class SetListening(Command):
    """The broker connection changed: the hub has listened since `since` (None: it is cut off).
    `event` tells the page and the fan-out, once the batch is done."""

    since: datetime | None
    event: BrokerConnected | BrokerDisconnected

    def plan(self, plan: Plan) -> None:
        plan.draft.listening_since = self.since
        plan.events.append(self.event)
