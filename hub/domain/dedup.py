"""Dedup and correlation: what one press means, given what is already known. Pure.

The rules (docs/CONTRACT.md, "Dedup and correlation"), in the order they are applied:

1. Same button, same event id as an earlier event: a **duplicate**. Nothing new is recorded; the
   message is acknowledged again and the button's ack is sent again.
2. A `cancel` or `tamper` event is **recorded** (on the button's open alarm, if it has one, of its
   own kind first, else of any kind); it never raises an alarm and never closes one: a caller may
   be forced to cancel.
3. The button already belongs to an open alarm: a **repeat** press on that alarm.
4. Another button of the same site has an open alarm: the press **joins** that alarm.
5. Otherwise the press **raises** a new alarm. (A resolved alarm is not open, so a press after
   resolve raises a new one.)

Test presses (type `test`, or a button or site in test mode) correlate only with test alarms and
real presses only with real alarms: a maintenance test must never absorb a real hold-up. Likewise
a press correlates only with alarms of its own kind (`hub.domain.kinds`): a fire press at a site
with an open hold-up raises a fire alarm of its own, since it needs other people.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from devices.messages import EventType
from hub.domain.model import AlarmKind


class Verdict(StrEnum):
    DUPLICATE = "duplicate"
    RECORD = "record"
    REPEAT = "repeat"
    JOIN = "join"
    RAISE = "raise"


@dataclass(frozen=True, slots=True)
class PressFacts:
    """What correlation needs to know about one event."""

    button: str
    type: EventType
    site: str | None
    test: bool
    kind: AlarmKind = AlarmKind.HOLDUP


@dataclass(frozen=True, slots=True)
class EarlierEvent:
    """The same (button, event id) was seen before; `alarm_id` is the alarm it went to."""

    alarm_id: str | None


@dataclass(frozen=True, slots=True)
class Correlation:
    verdict: Verdict
    alarm_id: str | None = None


class OpenAlarms(Protocol):
    def alarm_of_button(self, button: str, test: bool, kind: AlarmKind) -> str | None:
        """The open alarm of this kind this button belongs to, among test or real alarms."""
        ...

    def alarm_of_site(self, site: str, test: bool, kind: AlarmKind) -> str | None:
        """The open alarm of this kind of this site, among test or real alarms."""
        ...


def correlate(
    press: PressFacts, earlier: EarlierEvent | None, open_alarms: OpenAlarms
) -> Correlation:
    if earlier is not None:
        return Correlation(Verdict.DUPLICATE, earlier.alarm_id)
    own = open_alarms.alarm_of_button(press.button, press.test, press.kind)
    if not press.type.raises_alarm:  # a cancel or tamper: on the button's open alarm of any kind
        kinds = (press.kind, *(kind for kind in AlarmKind if kind is not press.kind))
        found = (open_alarms.alarm_of_button(press.button, press.test, kind) for kind in kinds)
        return Correlation(Verdict.RECORD, next((a for a in found if a is not None), None))
    if own is not None:
        return Correlation(Verdict.REPEAT, own)
    if press.site is not None:
        shared = open_alarms.alarm_of_site(press.site, press.test, press.kind)
        if shared is not None:
            return Correlation(Verdict.JOIN, shared)
    return Correlation(Verdict.RAISE)
