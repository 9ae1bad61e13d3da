"""Unit tests of hub/domain/alarms.py: the alarm state machine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hub.domain import alarms
from hub.domain.alarms import NOTE_MAX_CHARS
from hub.domain.model import Alarm, AlarmDevice, AlarmState, Outcome, Site, SiteRef
from hub.errors import AlarmError, InvalidTransition

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)
SITE = Site("vcb", "Vietcombank PGD", "12 QL1A", "0272 3812 345", lat=10.5, test_mode=False)


def raised(*, site: Site | None = SITE, registered: bool = True, test: bool = False) -> Alarm:
    return alarms.raise_alarm(
        hub_id="post",
        seq=7,
        button="b1",
        event_id="e1",
        site=site,
        registered=registered,
        test=test,
        now=NOW,
    )


def acknowledged() -> Alarm:
    return alarms.acknowledge(raised(), "user:lan", LATER)


def test_alarm_id_is_hub_id_and_sequence() -> None:
    """An alarm id is '<hub id>-<seq>'."""
    assert alarms.alarm_id("xa-phuoc", 12) == "xa-phuoc-12"


def test_raise_alarm_fields() -> None:
    """A raised alarm is active at level 0 with one device, one press and the site's reference."""
    alarm = raised()
    assert alarm.id == "post-7"
    assert alarm.seq == 7
    assert alarm.state is AlarmState.ACTIVE
    assert alarm.level == 0
    assert alarm.site == SiteRef("vcb", "Vietcombank PGD", "12 QL1A", "0272 3812 345")
    assert alarm.devices == (AlarmDevice("b1", "e1"),)
    assert alarm.press_count == 1
    assert (alarm.test, alarm.unregistered) == (False, False)
    assert alarm.raised_at == alarm.last_press_at == alarm.updated_at == NOW
    assert alarm.acknowledged_at is None
    assert alarm.resolved_at is None
    assert alarm.outcome is None
    assert alarm.is_open


def test_raise_alarm_unregistered_without_site() -> None:
    """A press from an unknown button raises an alarm with no site, flagged unregistered."""
    alarm = raised(site=None, registered=False)
    assert alarm.site is None
    assert alarm.unregistered is True


def test_raise_alarm_test_flag_is_kept() -> None:
    """A test press raises an alarm marked test."""
    assert raised(test=True).test is True


def test_add_press_repeat_same_button() -> None:
    """A repeat press of the same button grows press_count, updates last_event, adds no device."""
    alarm = alarms.add_press(raised(), "b1", "e2", LATER)
    assert alarm.devices == (AlarmDevice("b1", "e2"),)
    assert alarm.press_count == 2
    assert alarm.last_press_at == alarm.updated_at == LATER
    assert alarm.raised_at == NOW
    assert alarm.state is AlarmState.ACTIVE


def test_add_press_join_keeps_order_of_joining() -> None:
    """Joining buttons are appended in order; a later repeat updates that button in place."""
    alarm = alarms.add_press(raised(), "b2", "x1", LATER)
    alarm = alarms.add_press(alarm, "b3", "y1", LATER)
    alarm = alarms.add_press(alarm, "b2", "x2", LATER + timedelta(seconds=1))
    assert alarm.devices == (
        AlarmDevice("b1", "e1"),
        AlarmDevice("b2", "x2"),
        AlarmDevice("b3", "y1"),
    )
    assert alarm.buttons == ("b1", "b2", "b3")
    assert alarm.press_count == 4
    assert alarm.last_press_at == LATER + timedelta(seconds=1)


def test_add_press_does_not_undo_acknowledgement() -> None:
    """A new press on an acknowledged alarm keeps it acknowledged (only the counters change)."""
    alarm = alarms.add_press(acknowledged(), "b1", "e2", LATER + timedelta(minutes=1))
    assert alarm.state is AlarmState.ACKNOWLEDGED
    assert alarm.acknowledged_by == "user:lan"
    assert alarm.press_count == 2


def test_add_press_on_resolved_alarm_is_invalid() -> None:
    """A press cannot be added to a resolved alarm (it raises a new one instead)."""
    closed = alarms.resolve(
        acknowledged(), "user:lan", LATER, Outcome.GENUINE, "", may_skip_ack=False
    )
    with pytest.raises(InvalidTransition, match="resolved"):
        alarms.add_press(closed, "b1", "e9", LATER)


def test_functions_do_not_change_their_input() -> None:
    """The state machine returns new records; the original alarm is unchanged."""
    original = raised()
    alarms.add_press(original, "b2", "x", LATER)
    alarms.acknowledge(original, "user:lan", LATER)
    assert original == raised()


def test_acknowledge_active() -> None:
    """Acknowledging an active alarm records who and when."""
    alarm = acknowledged()
    assert alarm.state is AlarmState.ACKNOWLEDGED
    assert alarm.acknowledged_at == alarm.updated_at == LATER
    assert alarm.acknowledged_by == "user:lan"
    assert alarm.is_open


def test_acknowledge_twice_is_invalid_and_names_first_officer() -> None:
    """A second acknowledgement is refused, naming who acknowledged first."""
    with pytest.raises(InvalidTransition, match="user:lan"):
        alarms.acknowledge(acknowledged(), "user:minh", LATER)


def test_acknowledge_resolved_is_invalid() -> None:
    """A resolved alarm cannot be acknowledged."""
    closed = alarms.resolve(raised(), "admin", LATER, Outcome.TEST, "", may_skip_ack=True)
    with pytest.raises(InvalidTransition, match="resolved"):
        alarms.acknowledge(closed, "user:lan", LATER)


def test_invalid_transition_is_an_alarm_error() -> None:
    """InvalidTransition belongs to the AlarmError branch (mapped to HTTP 409)."""
    assert issubclass(InvalidTransition, AlarmError)


def test_resolve_acknowledged() -> None:
    """Resolving an acknowledged alarm sets state, outcome, note, who and when."""
    at = LATER + timedelta(minutes=5)
    alarm = alarms.resolve(
        acknowledged(), "user:lan", at, Outcome.FALSE_ALARM, "cat on counter", may_skip_ack=False
    )
    assert alarm.state is AlarmState.RESOLVED
    assert alarm.outcome is Outcome.FALSE_ALARM
    assert alarm.note == "cat on counter"
    assert alarm.resolved_by == "user:lan"
    assert alarm.resolved_at == alarm.updated_at == at
    assert alarm.acknowledged_by == "user:lan"
    assert not alarm.is_open


def test_resolve_active_needs_may_skip_ack() -> None:
    """An officer cannot close an active alarm without acknowledging it first."""
    with pytest.raises(InvalidTransition, match="acknowledged before"):
        alarms.resolve(raised(), "user:lan", LATER, Outcome.GENUINE, "", may_skip_ack=False)


def test_resolve_active_with_may_skip_ack() -> None:
    """An admin may close an active alarm directly; it was never acknowledged."""
    alarm = alarms.resolve(raised(), "admin", LATER, Outcome.TEST, "drill", may_skip_ack=True)
    assert alarm.state is AlarmState.RESOLVED
    assert alarm.acknowledged_at is None


@pytest.mark.parametrize("may_skip_ack", [True, False])
def test_resolve_twice_is_invalid(may_skip_ack: bool) -> None:
    """A resolved alarm cannot be resolved again, whoever asks."""
    closed = alarms.resolve(
        acknowledged(), "user:lan", LATER, Outcome.GENUINE, "", may_skip_ack=False
    )
    with pytest.raises(InvalidTransition, match="already resolved"):
        alarms.resolve(closed, "admin", LATER, Outcome.OTHER, "", may_skip_ack=may_skip_ack)


def test_resolve_note_is_truncated() -> None:
    """A note longer than NOTE_MAX_CHARS is cut to exactly that many characters."""
    note = "ghi chú " * 1000
    alarm = alarms.resolve(acknowledged(), "u", LATER, Outcome.OTHER, note, may_skip_ack=False)
    assert alarm.note == note[:NOTE_MAX_CHARS]
    assert alarm.note is not None
    assert len(alarm.note) == NOTE_MAX_CHARS


def test_resolve_note_at_limit_is_kept_whole() -> None:
    """A note of exactly NOTE_MAX_CHARS is kept whole."""
    note = "x" * NOTE_MAX_CHARS
    alarm = alarms.resolve(acknowledged(), "u", LATER, Outcome.OTHER, note, may_skip_ack=False)
    assert alarm.note == note


def test_escalate_raises_level() -> None:
    """Escalating records the higher level and the time, keeping the state."""
    alarm = alarms.escalate(raised(), 2, LATER)
    assert alarm.level == 2
    assert alarm.updated_at == LATER
    assert alarm.state is AlarmState.ACTIVE


def test_escalate_never_lowers_level() -> None:
    """An escalation to a lower level than already reached keeps the higher one."""
    alarm = alarms.escalate(replace(raised(), level=3), 1, LATER)
    assert alarm.level == 3


def test_escalate_acknowledged_is_allowed() -> None:
    """An acknowledged alarm is still open and can be escalated."""
    assert alarms.escalate(acknowledged(), 1, LATER).level == 1


def test_escalate_resolved_is_invalid() -> None:
    """A resolved alarm cannot be escalated."""
    closed = alarms.resolve(raised(), "admin", LATER, Outcome.TEST, "", may_skip_ack=True)
    with pytest.raises(InvalidTransition):
        alarms.escalate(closed, 1, LATER)
