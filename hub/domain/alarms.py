"""The alarm state machine. Pure: every function returns a new `Alarm` or raises.

    active ──ack──▶ acknowledged ──resolve──▶ resolved
       └──────────── resolve (admin only) ───────▲

A resolved alarm is final: a later press raises a new alarm. Repeat presses and joining buttons
change the counters of an open alarm, never its state: once an officer has acknowledged, a new
press shows on the page (and raises its press count) without undoing the acknowledgement.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Final

from hub.domain.model import (
    Alarm,
    AlarmDevice,
    AlarmKind,
    AlarmState,
    Outcome,
    PersonAck,
    Site,
    SiteRef,
)
from hub.errors import InvalidTransition, coded

NOTE_MAX_CHARS: Final = 2000


def alarm_id(hub_id: str, seq: int) -> str:
    """`<hub id>-<sequence>`: readable over the radio and unique where posts' alarms meet."""
    return f"{hub_id}-{seq}"


def raise_alarm(
    *,
    hub_id: str,
    seq: int,
    button: str,
    event_id: str,
    site: Site | None,
    registered: bool,
    test: bool,
    now: datetime,
    kind: AlarmKind = AlarmKind.HOLDUP,
) -> Alarm:
    return Alarm(
        id=alarm_id(hub_id, seq),
        seq=seq,
        state=AlarmState.ACTIVE,
        level=0,
        site=None if site is None else SiteRef(site.id, site.name, site.address, site.phone),
        devices=(AlarmDevice(button, event_id),),
        press_count=1,
        test=test,
        unregistered=not registered,
        raised_at=now,
        last_press_at=now,
        updated_at=now,
        kind=kind,
    )


def add_press(alarm: Alarm, button: str, event_id: str, now: datetime) -> Alarm:
    """A repeat press of a button of the alarm, or the first press of a joining button."""
    if not alarm.is_open:
        raise InvalidTransition(f"alarm {alarm.id} is resolved; a new press raises a new alarm")
    devices = tuple(
        AlarmDevice(button, event_id) if device.button == button else device
        for device in alarm.devices
    )
    if button not in alarm.buttons:
        devices = (*devices, AlarmDevice(button, event_id))
    return replace(
        alarm,
        devices=devices,
        press_count=alarm.press_count + 1,
        last_press_at=now,
        updated_at=now,
    )


def acknowledge(alarm: Alarm, actor: str, now: datetime) -> Alarm:
    if alarm.state is AlarmState.ACKNOWLEDGED:
        raise coded(
            InvalidTransition(
                f"alarm {alarm.id} was already acknowledged by {alarm.acknowledged_by}"
            ),
            "alarm_acknowledged",
            by=alarm.acknowledged_by or "",
        )
    if alarm.state is AlarmState.RESOLVED:
        raise coded(InvalidTransition(f"alarm {alarm.id} is resolved"), "alarm_resolved")
    return replace(
        alarm,
        state=AlarmState.ACKNOWLEDGED,
        acknowledged_at=now,
        acknowledged_by=actor,
        updated_at=now,
    )


def person_acknowledges(alarm: Alarm, person: str, now: datetime) -> Alarm:
    """One person acknowledged from their link; the alarm stays active (a step whose people
    must each acknowledge is still waiting for others). A second time changes nothing."""
    if alarm.state is not AlarmState.ACTIVE:
        raise InvalidTransition(f"alarm {alarm.id} is not active")
    if any(ack.person == person for ack in alarm.acks):
        return alarm
    return replace(alarm, acks=(*alarm.acks, PersonAck(person, now)), updated_at=now)


def resolve(
    alarm: Alarm,
    actor: str,
    now: datetime,
    outcome: Outcome,
    note: str,
    *,
    may_skip_ack: bool,
) -> Alarm:
    """Close the alarm with its outcome. Only an admin (`may_skip_ack`) may close an active one."""
    if alarm.state is AlarmState.RESOLVED:
        raise coded(InvalidTransition(f"alarm {alarm.id} is already resolved"), "alarm_resolved")
    if alarm.state is AlarmState.ACTIVE and not may_skip_ack:
        raise coded(
            InvalidTransition(f"alarm {alarm.id} must be acknowledged before it is resolved"),
            "alarm_needs_ack",
        )
    return replace(
        alarm,
        state=AlarmState.RESOLVED,
        resolved_at=now,
        resolved_by=actor,
        outcome=outcome,
        note=note[:NOTE_MAX_CHARS],
        updated_at=now,
    )


def escalate(alarm: Alarm, level: int, now: datetime) -> Alarm:
    """Record that the alarm climbed to `level` (escalation is driven by `hub.escalation`)."""
    if not alarm.is_open:
        raise InvalidTransition(f"alarm {alarm.id} is resolved")
    return replace(alarm, level=max(alarm.level, level), updated_at=now)
