"""What is due now: pure functions of (policy, progress, start, now).

A policy is a list of steps; step n (numbered from 1) first fires `after_s` seconds after the raise,
then, with `repeat_s`, again every `repeat_s` seconds. What has fired is the *progress*: for each
step, how many rounds. Round k of a step is due at `start + after_s + k * repeat_s`.

After a stop of the hub (clean or kill -9), everything overdue fires at once, and only once: a step
that should have repeated five times while the hub was down fires one round, numbered as the latest
one that was due, and then keeps its rhythm from the raise.

An alarm escalates only while it is `active`; a trouble only while it is open and, if it belongs to
a site, only while that site has no open alarm (its notices wait; the page still shows it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Final

from hub.domain.model import Alarm, AlarmKind, AlarmState, Trouble, TroubleState

DEFAULT_POLICY: Final = "default"
TROUBLE_POLICY: Final = "troubles"
MUTED_RECHECK: Final = timedelta(seconds=30)
"""How often a trouble held back by an open alarm of its site is looked at again."""

RESOLUTION_S: Final = 0.001
"""Times are stored to the millisecond: a step is due from its stored (truncated) deadline on."""

Progress = Mapping[int, int]
"""Rounds fired, by step number (1-based). A missing step has not fired."""


@dataclass(frozen=True, slots=True)
class Step:
    number: int
    """1-based position in the configured policy; the alarm's level once it fires."""
    after_s: float
    notify: tuple[str, ...]
    repeat_s: float | None = None
    each: bool = False
    """`ack = "each"`: every person of the step acknowledges from their own link"""
    people: tuple[str, ...] = ()
    """the people the step's notifiers reach (their `person`; devices reach nobody)"""

    def due_at(self, start: datetime, round_no: int) -> datetime | None:
        if round_no > 0 and self.repeat_s is None:
            return None
        return start + timedelta(seconds=self.after_s + round_no * (self.repeat_s or 0))

    def rounds_due(self, start: datetime, now: datetime) -> int:
        """How many rounds should have fired by `now`."""
        elapsed = (now - start).total_seconds() - self.after_s + RESOLUTION_S
        if elapsed < 0:
            return 0
        if self.repeat_s is None:
            return 1
        return math.floor(elapsed / self.repeat_s) + 1


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    steps: tuple[Step, ...]

    def only(self, allowed: Iterable[str]) -> Policy:
        """The policy reduced to some notifiers; steps left with none are dropped (their
        numbers, and so the levels, stay as configured)."""
        keep = set(allowed)
        steps = []
        for step in self.steps:
            notify = tuple(name for name in step.notify if name in keep)
            if notify:
                steps.append(replace(step, notify=notify))
        return Policy(self.name, tuple(steps))

    def fired(self, level: int) -> tuple[Step, ...]:
        """The steps that have fired at an alarm's `level`: listed in the order they fire, so
        every step up to the level has."""
        return tuple(step for step in self.steps if step.number <= level)


@dataclass(frozen=True, slots=True)
class Firing:
    step: int
    round: int
    """0 for the first time, then 1, 2, … for repeats"""
    notify: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    firings: tuple[Firing, ...]
    progress: dict[int, int]
    next_due: datetime | None
    """When to look again; None once nothing more can fire."""

    @property
    def level(self) -> int:
        """The highest step that fires now (0 if none)."""
        return max((firing.step for firing in self.firings), default=0)


def decide(policy: Policy, start: datetime, progress: Progress, now: datetime) -> Decision:
    """The steps due at `now`, the progress once they have fired, and the next deadline."""
    fired = dict(progress)
    firings = []
    for step in policy.steps:
        done = fired.get(step.number, 0)
        due = step.rounds_due(start, now)
        if due > done:
            firings.append(Firing(step.number, due - 1, step.notify))
            fired[step.number] = due
    return Decision(tuple(firings), fired, next_due(policy, start, fired))


def next_due(policy: Policy, start: datetime, progress: Progress) -> datetime | None:
    times = [
        at
        for step in policy.steps
        if (at := step.due_at(start, progress.get(step.number, 0))) is not None
    ]
    return min(times, default=None)


def decide_for_alarm(
    policy: Policy, alarm: Alarm, progress: Progress, now: datetime, start: datetime | None = None
) -> Decision:
    """Steps fire only while the alarm is active: acknowledging or resolving stops them. They
    count from `start`, the raise unless the escalation began later (an adopted alarm)."""
    if alarm.state is not AlarmState.ACTIVE:
        return Decision((), dict(progress), None)
    return decide(policy, start or alarm.raised_at, progress, now)


def decide_for_trouble(
    policy: Policy, trouble: Trouble, progress: Progress, now: datetime, *, site_alarming: bool
) -> Decision:
    """Steps fire only while the trouble is open. While its site has an open alarm, its notices
    wait (inhibition, as Alertmanager's) and are looked at again after `MUTED_RECHECK`."""
    if trouble.state is not TroubleState.OPEN:
        return Decision((), dict(progress), None)
    decision = decide(policy, trouble.raised_at, progress, now)
    if site_alarming and decision.firings:
        return Decision((), dict(progress), now + MUTED_RECHECK)
    return decision


def link_acknowledges(policy: Policy | None, level: int, acked: Iterable[str], person: str) -> bool:
    """Does `person`'s acknowledgement from their link acknowledge the alarm?

    Each fired step that named the person is a group: an `any` step is satisfied by one of its
    people, an `each` step by all of them. The alarm is acknowledged once one of these groups is
    satisfied, counting the people who acknowledged before (`acked`). A person no fired step
    names (the configuration changed since) acknowledges it, as before steps had `ack`."""
    steps = [step for step in (policy.fired(level) if policy else ()) if person in step.people]
    if not steps:
        return True
    done = {*acked, person}
    return any(not step.each or done.issuperset(step.people) for step in steps)


def still_waiting(policy: Policy | None, level: int, acked: Iterable[str]) -> tuple[str, ...]:
    """The people of the fired `each` steps who have not acknowledged yet, in step order."""
    done = set(acked)
    waiting: dict[str, None] = {}
    for step in policy.fired(level) if policy else ():
        if step.each:
            waiting.update((person, None) for person in step.people if person not in done)
    return tuple(waiting)


@dataclass(frozen=True, slots=True)
class Rule:
    policy: str
    sites: tuple[str, ...] = ()
    buttons: tuple[str, ...] = ()
    unregistered: bool | None = None
    kinds: tuple[AlarmKind, ...] = ()

    def matches(self, alarm: Alarm) -> bool:
        if self.unregistered is not None and alarm.unregistered != self.unregistered:
            return False
        if self.kinds and alarm.kind not in self.kinds:
            return False
        if self.sites and (
            alarm.site is None or not any(fnmatchcase(alarm.site.id, p) for p in self.sites)
        ):
            return False
        return not self.buttons or any(
            fnmatchcase(button, pattern) for button in alarm.buttons for pattern in self.buttons
        )


def choose(
    rules: Iterable[Rule], alarm: Alarm, kinds: Mapping[AlarmKind, str] | None = None
) -> str:
    """The name of the policy for an alarm: the first rule that matches, else its kind's policy,
    else the default."""
    fallback = (kinds or {}).get(alarm.kind, DEFAULT_POLICY)
    return next((rule.policy for rule in rules if rule.matches(alarm)), fallback)
