"""Escalation inside the pipeline: the hooks that store deadlines with the changes that cause them,
and the command that fires what is due.

- An alarm is raised: its escalation row (policy, progress, first deadline) is added to the raise's
  own transaction (`AlarmHook`), so a crash can never leave an alarm without its deadline.
- A deadline passes: the scheduler runs `RunDue`, which decides what is due at the plan's `now`,
  queues the notifications in the outbox, raises the alarm's level (change `escalated`) and stores
  the next deadline — all in one commit.
- The alarm is acknowledged or resolved: the same hook stops its escalation, cancels notifications
  not yet sent and queues the `clear` of every device it switched on (a siren goes off).
- Troubles follow their own policy the same way (`TroubleHook`).

Everything here runs in the pipeline's writer, does no I/O and changes nothing but the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from hub.domain import alarms
from hub.domain.model import Alarm, AlarmChange, AlarmState, Trouble, TroubleState
from hub.domain.views import AlarmView
from hub.errors import AlarmNotFound
from hub.escalation.policies import Policies
from hub.escalation.policy import (
    Decision,
    Firing,
    Policy,
    decide_for_alarm,
    decide_for_trouble,
    link_acknowledges,
    next_due,
    still_waiting,
)
from hub.notify import outbox
from hub.notify.message import TroubleSnapshot
from hub.store.ops import (
    CancelNotifierForAlarm,
    Due,
    RecheckSiteTroubles,
    StartEscalation,
    StopEscalation,
    UpdateEscalation,
)
from hub.writer.commands import refuse_post_alarm
from hub.writer.plan import Command, Plan


def alarm_key(alarm_id: str) -> str:
    return f"alarm:{alarm_id}"


def trouble_key(trouble_id: int) -> str:
    return f"trouble:{trouble_id}"


def alarm_body(alarm: Alarm, **extra: Any) -> dict[str, Any]:
    return {"alarm": AlarmView.of(alarm).model_dump(mode="json"), **extra}


class EscalationHooks:
    """The `AlarmHook` and `TroubleHook` of escalation."""

    def __init__(self, policies: Policies) -> None:
        self._policies = policies

    def on_alarm(self, plan: Plan, old: Alarm | None, new: Alarm, change: AlarmChange) -> None:
        if change is AlarmChange.RAISED:
            self.start_alarm(plan, new, new.raised_at)
        elif old is not None and old.state is AlarmState.ACTIVE and new.state is not old.state:
            self._stop_alarm(plan, old, new, change)
        if (
            change is AlarmChange.RESOLVED
            and new.site is not None
            and self._policies.troubles_escalate
        ):
            # Troubles of the site held back while it alarmed are looked at again now (moving a
            # deadline earlier is always safe: `RunDue` decides from the policy, not from it).
            plan.write(RecheckSiteTroubles(new.site.id, plan.now))

    def start_alarm(self, plan: Plan, alarm: Alarm, started_at: datetime) -> None:
        policy = self._policies.for_alarm(alarm)
        if policy is not None:
            start(plan, alarm_key(alarm.id), policy, started_at, alarm_id=alarm.id)

    def on_trouble(self, plan: Plan, trouble: Trouble) -> None:
        if trouble.state is TroubleState.OPEN:
            policy = self._policies.for_trouble(trouble)
            if policy is not None:
                start(
                    plan,
                    trouble_key(trouble.id),
                    policy,
                    trouble.raised_at,
                    trouble_id=trouble.id,
                    site_id=trouble.site_id,
                )
        elif self._policies.for_trouble(trouble) is not None:
            plan.write(StopEscalation(trouble_key(trouble.id), plan.now))
            outbox.cancel_for_trouble(plan, trouble.id)
            plan.audit("escalation.stopped", "hub", trouble_id=trouble.id, reason="cleared")

    def _stop_alarm(self, plan: Plan, old: Alarm, new: Alarm, change: AlarmChange) -> None:
        policy = self._policies.for_alarm(old)
        if policy is None:
            return
        plan.write(StopEscalation(alarm_key(old.id), plan.now))
        outbox.cancel_for_alarm(plan, old.id)
        plan.audit("escalation.stopped", "hub", alarm_id=old.id, reason=change, level=old.level)
        switched_on = {
            name
            for step in policy.steps
            if step.number <= old.level
            for name in step.notify
            if name in self._policies.devices
        }
        for name in sorted(switched_on):
            outbox.queue(
                plan,
                key=f"{alarm_key(old.id)}/clear/{name}",
                notifier=name,
                event="clear",
                body=alarm_body(new),
                alarm_id=old.id,
            )


def start(
    plan: Plan,
    subject: str,
    policy: Policy,
    started_at: datetime,
    *,
    alarm_id: str | None = None,
    trouble_id: int | None = None,
    site_id: str | None = None,
) -> None:
    """Store the escalation of one alarm or trouble (kept as it is if it exists already)."""
    first = next_due(policy, started_at, {})
    plan.write(
        StartEscalation(
            subject,
            policy.name,
            started_at,
            first,
            plan.now,
            alarm_id=alarm_id,
            trouble_id=trouble_id,
            site_id=site_id,
        )
    )


@dataclass(slots=True)
class RunDue(Command):
    """Fire what is due for one escalation, at the plan's `now`."""

    policies: Policies
    due: Due

    def plan(self, plan: Plan) -> Decision:
        due = self.due
        if due.alarm_id is not None:
            decision = self._alarm(plan, due.alarm_id)
        else:
            decision = self._trouble(plan)
        state: Literal["running", "finished", "stopped"]
        if decision.next_due is not None:
            state = "running"
        else:  # the last step fired, or the alarm or trouble is no longer there to escalate
            state = "finished" if decision.firings else "stopped"
        plan.write(
            UpdateEscalation(due.subject, decision.progress, decision.next_due, state, plan.now)
        )
        return decision

    def _alarm(self, plan: Plan, alarm_id: str) -> Decision:
        due = self.due
        alarm = plan.draft.alarm(alarm_id)  # open alarms only: None once resolved
        policy = None if alarm is None else self.policies.for_alarm(alarm, due.policy)
        if alarm is None or policy is None:
            return Decision((), due.progress, None)
        decision = decide_for_alarm(policy, alarm, due.progress, plan.now, due.started_at)
        if decision.level > alarm.level:
            alarm = alarms.escalate(alarm, decision.level, plan.now)
            plan.save_alarm(
                alarm, AlarmChange.ESCALATED, "hub", level=alarm.level, policy=policy.name
            )
        # People who acknowledged from their link (an `ack = "each"` step still waiting for others)
        # have it: the steps and repeats that fire meanwhile call only the others.
        acked = {ack.person for ack in alarm.acks}
        for firing in decision.firings:
            notify = tuple(n for n in firing.notify if self.policies.people.get(n) not in acked)
            if notify:
                _queue_firing(
                    plan,
                    due.subject,
                    Firing(firing.step, firing.round, notify),
                    "alarm",
                    alarm_body(alarm),
                    alarm_id=alarm.id,
                )
        return decision

    def _trouble(self, plan: Plan) -> Decision:
        due = self.due
        kind, subject = due.trouble_kind, due.trouble_subject or ""
        trouble = None if kind is None else plan.draft.trouble(kind, subject)
        if trouble is None or trouble.id != due.trouble_id:  # cleared (and maybe raised anew)
            return Decision((), due.progress, None)
        policy = self.policies.for_trouble(trouble)
        if policy is None:
            return Decision((), due.progress, None)
        site = trouble.site_id
        site_alarming = site is not None and plan.draft.site_alarming(site)
        decision = decide_for_trouble(
            policy, trouble, due.progress, plan.now, site_alarming=site_alarming
        )
        snapshot = {"trouble": TroubleSnapshot.of(trouble).model_dump(mode="json")}
        for firing in decision.firings:
            _queue_firing(plan, due.subject, firing, "trouble", snapshot, trouble_id=trouble.id)
        return decision


def _queue_firing(
    plan: Plan, subject: str, firing: Firing, event: str, snapshot: dict[str, Any], **ids: Any
) -> None:
    """One outbox row per notifier of the step, each saying what it is about (`snapshot`)."""
    for name in firing.notify:
        outbox.queue(
            plan,
            key=f"{subject}/{firing.step}.{firing.round}/{name}",
            notifier=name,
            event=event,
            body={**snapshot, "step": firing.step, "round": firing.round},
            **ids,
        )


@dataclass(slots=True)
class Adopt(Command):
    """At start-up: give an escalation to every open alarm and trouble that has none (raised
    before escalation was configured, or by an older hub). Existing rows are left alone. An
    adopted alarm's escalation starts now: its steps climb one by one with their configured
    spacing, instead of all the overdue ones firing together (the same person called at steps 1
    and 2 at once)."""

    policies: Policies

    def plan(self, plan: Plan) -> None:
        hooks = EscalationHooks(self.policies)
        state = plan.draft.state
        for alarm in state.alarms.values():
            if alarm.state is AlarmState.ACTIVE:
                hooks.start_alarm(plan, alarm, plan.now)
        for trouble in state.troubles.values():
            hooks.on_trouble(plan, trouble)


@dataclass(slots=True)
class AcknowledgeByLink(Command):
    """A person acknowledges the alarm from their phone link (as `link:<person>`).

    Usually that acknowledges the alarm. When the person was called by a step with
    `ack = "each"`, it does only once every person of that step has acknowledged
    (`link_acknowledges`); until then the alarm stays active, so the climb goes on (steps and
    repeats call only those who have not acknowledged), and the alarm lists who has
    (`acks`, change `person_acknowledged`). An officer on the page acknowledges it at any time."""

    policies: Policies
    alarm_id: str
    person: str
    policy: str | None
    """the alarm's escalation policy, as stored when it was raised (None: none is stored)"""

    def plan(self, plan: Plan) -> Alarm:
        alarm = plan.draft.alarm(self.alarm_id)
        if alarm is None:
            raise AlarmNotFound(self.alarm_id)
        refuse_post_alarm(alarm)
        actor = f"link:{self.person}"
        if alarm.state is not AlarmState.ACTIVE:
            return alarms.acknowledge(alarm, actor, plan.now)  # refuses, saying why
        policy = self.policies.for_alarm(alarm, self.policy)
        before = [ack.person for ack in alarm.acks]
        updated = alarms.person_acknowledges(alarm, self.person, plan.now)
        if link_acknowledges(policy, alarm.level, before, self.person):
            updated = alarms.acknowledge(updated, actor, plan.now)
            plan.save_alarm(updated, AlarmChange.ACKNOWLEDGED, actor)
            return updated
        if updated is alarm:  # this person had acknowledged already
            return alarm
        waiting = still_waiting(policy, alarm.level, [*before, self.person])
        plan.save_alarm(
            updated,
            AlarmChange.PERSON_ACKNOWLEDGED,
            actor,
            person=self.person,
            waiting=list(waiting),
        )
        for name, person in sorted(self.policies.people.items()):
            if person == self.person:
                plan.write(CancelNotifierForAlarm(alarm.id, name, plan.now))
        return updated
