"""Unit tests of hub/domain/dedup.py: what one press means, given the open alarms."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devices.messages import EventType
from hub.domain import alarms
from hub.domain.dedup import Correlation, EarlierEvent, PressFacts, Verdict, correlate
from hub.domain.model import Alarm, Outcome, Site
from hub.domain.state import Draft, HubState

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
BANK = Site("bank", "Ngân hàng")
CLINIC = Site("clinic", "Phòng khám")
PRESS_TYPES = [EventType.PRESS, EventType.DOUBLE_PRESS, EventType.LONG_PRESS, EventType.TEST]
RECORD_TYPES = [EventType.CANCEL, EventType.TAMPER]


def alarm(seq: int, button: str, site: Site | None, *, test: bool = False) -> Alarm:
    return alarms.raise_alarm(
        hub_id="post",
        seq=seq,
        button=button,
        event_id=f"e{seq}",
        site=site,
        registered=True,
        test=test,
        now=NOW,
    )


def open_alarms(*open_: Alarm) -> HubState:
    """The real OpenAlarms implementation, holding these alarms."""
    return HubState(next_alarm_seq=100, next_trouble_id=1, open_alarms=open_)


def facts(
    button: str = "b1",
    kind: EventType = EventType.PRESS,
    site: str | None = "bank",
    *,
    test: bool = False,
) -> PressFacts:
    return PressFacts(button, kind, site, test)


# -- rule 1: duplicate ----------------------------------------------------------------------------


def test_duplicate_returns_the_earlier_alarm() -> None:
    """A (button, event id) seen before is a duplicate carrying the alarm it went to."""
    result = correlate(facts(), EarlierEvent("post-3"), open_alarms())
    assert result == Correlation(Verdict.DUPLICATE, "post-3")


def test_duplicate_of_event_without_alarm() -> None:
    """A duplicate of an event that had no alarm (a cancel) is a duplicate with no alarm."""
    assert correlate(facts(), EarlierEvent(None), open_alarms()) == Correlation(
        Verdict.DUPLICATE, None
    )


@pytest.mark.parametrize("kind", PRESS_TYPES + RECORD_TYPES)
def test_duplicate_wins_over_everything(kind: EventType) -> None:
    """Even with an open alarm of the button and of its site, a duplicate stays a duplicate."""
    state = open_alarms(alarm(1, "b1", BANK), alarm(2, "b1", BANK, test=True))
    result = correlate(facts(kind=kind), EarlierEvent("post-old"), state)
    assert result == Correlation(Verdict.DUPLICATE, "post-old")


# -- rule 2: cancel and tamper are recorded -------------------------------------------------------


@pytest.mark.parametrize("kind", RECORD_TYPES)
def test_record_without_open_alarm(kind: EventType) -> None:
    """A cancel or tamper with no open alarm is recorded, on no alarm; it never raises one."""
    assert correlate(facts(kind=kind), None, open_alarms()) == Correlation(Verdict.RECORD, None)


@pytest.mark.parametrize("kind", RECORD_TYPES)
def test_record_on_the_buttons_open_alarm(kind: EventType) -> None:
    """A cancel or tamper of a button with an open alarm is recorded on that alarm."""
    own = alarm(1, "b1", BANK)
    assert correlate(facts(kind=kind), None, open_alarms(own)) == Correlation(
        Verdict.RECORD, own.id
    )


@pytest.mark.parametrize("kind", RECORD_TYPES)
def test_record_never_joins_the_sites_alarm(kind: EventType) -> None:
    """A cancel from another button of a site with an open alarm is not put on that alarm."""
    other = alarm(1, "b2", BANK)
    assert correlate(facts("b1", kind), None, open_alarms(other)) == Correlation(
        Verdict.RECORD, None
    )


# -- rule 3: repeat -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [EventType.PRESS, EventType.DOUBLE_PRESS, EventType.LONG_PRESS])
def test_repeat_press_of_the_same_button(kind: EventType) -> None:
    """A press of a button that belongs to an open alarm is a repeat on that alarm."""
    own = alarm(1, "b1", BANK)
    assert correlate(facts(kind=kind), None, open_alarms(own)) == Correlation(
        Verdict.REPEAT, own.id
    )


def test_repeat_beats_join() -> None:
    """If the button has its own open alarm, that wins over another alarm of its site."""
    own = alarm(1, "b1", CLINIC)
    site_alarm = alarm(2, "b2", BANK)
    result = correlate(facts("b1", site="bank"), None, open_alarms(own, site_alarm))
    assert result == Correlation(Verdict.REPEAT, own.id)


def test_repeat_of_unregistered_button() -> None:
    """A button without a site still repeats on its own open alarm."""
    own = alarm(1, "stray", None)
    assert correlate(facts("stray", site=None), None, open_alarms(own)) == Correlation(
        Verdict.REPEAT, own.id
    )


# -- rule 4: join ---------------------------------------------------------------------------------


def test_join_another_button_of_the_same_site() -> None:
    """A press of another button of a site with an open alarm joins that alarm."""
    site_alarm = alarm(1, "b2", BANK)
    assert correlate(facts("b1"), None, open_alarms(site_alarm)) == Correlation(
        Verdict.JOIN, site_alarm.id
    )


def test_no_join_across_sites() -> None:
    """An open alarm of another site does not absorb the press: it raises its own."""
    assert correlate(facts("b1", site="bank"), None, open_alarms(alarm(1, "b2", CLINIC))) == (
        Correlation(Verdict.RAISE)
    )


def test_no_join_without_a_site() -> None:
    """A button without a site never joins anything; it raises."""
    assert correlate(facts("stray", site=None), None, open_alarms(alarm(1, "b2", BANK))) == (
        Correlation(Verdict.RAISE)
    )


# -- rule 5: raise --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", PRESS_TYPES)
def test_raise_when_nothing_is_open(kind: EventType) -> None:
    """With no open alarm of the button or its site, any kind of press raises a new alarm."""
    assert correlate(facts(kind=kind, test=kind is EventType.TEST), None, open_alarms()) == (
        Correlation(Verdict.RAISE, None)
    )


def test_press_after_resolve_raises() -> None:
    """Once the button's alarm is resolved (no longer open), a press raises a new alarm."""
    state = open_alarms(alarm(1, "b1", BANK))
    assert correlate(facts("b1"), None, state) == Correlation(Verdict.REPEAT, "post-1")
    draft = Draft(state)
    draft.put_alarm(
        alarms.resolve(state.alarms["post-1"], "admin", NOW, Outcome.GENUINE, "", may_skip_ack=True)
    )
    assert correlate(facts("b1"), None, draft) == Correlation(Verdict.RAISE)
    assert correlate(facts("b2"), None, draft) == Correlation(Verdict.RAISE)


# -- test presses and real presses never mix ------------------------------------------------------


def test_test_press_does_not_repeat_on_real_alarm() -> None:
    """A test press of a button with an open real alarm raises a separate test alarm."""
    state = open_alarms(alarm(1, "b1", BANK))
    assert correlate(facts(kind=EventType.TEST, test=True), None, state) == Correlation(
        Verdict.RAISE
    )


def test_test_press_does_not_join_real_site_alarm() -> None:
    """A test press at a site with an open real alarm does not join it."""
    state = open_alarms(alarm(1, "b2", BANK))
    assert correlate(facts("b1", test=True), None, state) == Correlation(Verdict.RAISE)


def test_real_press_does_not_repeat_on_test_alarm() -> None:
    """A real press of a button in an open test alarm raises a real alarm (never absorbed)."""
    state = open_alarms(alarm(1, "b1", BANK, test=True))
    assert correlate(facts("b1"), None, state) == Correlation(Verdict.RAISE)


def test_real_press_does_not_join_test_site_alarm() -> None:
    """A real press at a site with an open test alarm raises a real alarm."""
    state = open_alarms(alarm(1, "b2", BANK, test=True))
    assert correlate(facts("b1"), None, state) == Correlation(Verdict.RAISE)


def test_test_press_repeats_and_joins_among_test_alarms() -> None:
    """Test presses do correlate with test alarms: repeat on the button's, join the site's."""
    own = alarm(1, "b1", BANK, test=True)
    other_site = alarm(2, "c1", CLINIC, test=True)
    state = open_alarms(own, other_site)
    assert correlate(facts("b1", test=True), None, state) == Correlation(Verdict.REPEAT, own.id)
    assert correlate(facts("c2", site="clinic", test=True), None, state) == Correlation(
        Verdict.JOIN, other_site.id
    )


def test_real_press_picks_real_alarm_when_both_are_open() -> None:
    """With a test and a real alarm of one button open, each kind of press repeats on its own."""
    real = alarm(1, "b1", BANK)
    test = alarm(2, "b1", BANK, test=True)
    state = open_alarms(real, test)
    assert correlate(facts("b1"), None, state) == Correlation(Verdict.REPEAT, real.id)
    assert correlate(facts("b1", test=True), None, state) == Correlation(Verdict.REPEAT, test.id)


@pytest.mark.parametrize("kind", RECORD_TYPES)
def test_record_only_on_alarm_of_the_same_kind(kind: EventType) -> None:
    """A tamper/cancel of a button in test mode is recorded on its test alarm, not its real one."""
    real = alarm(1, "b1", BANK)
    test = alarm(2, "b1", BANK, test=True)
    state = open_alarms(real, test)
    assert correlate(facts(kind=kind, test=True), None, state) == Correlation(
        Verdict.RECORD, test.id
    )
    assert correlate(facts(kind=kind), None, open_alarms(test)) == Correlation(Verdict.RECORD, None)


def test_raises_alarm_property() -> None:
    """Every press type (test included) raises alarms; cancel and tamper do not."""
    assert all(kind.raises_alarm for kind in PRESS_TYPES)
    assert not any(kind.raises_alarm for kind in RECORD_TYPES)
