"""Unit tests of hub/supervision/decide.py: one button's liveness and troubles, from fixed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.profiles import Power
from hub.domain.model import DeviceState
from hub.supervision.decide import (
    LOW_BATTERY,
    OFFLINE,
    Clear,
    Limits,
    Liveness,
    Raise,
    SetOnline,
    State,
    battery_low,
    clock_skew,
    liveness_of,
    review,
)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LIMITS = Limits(flap_grace_s=15, unheard_s=90, low_battery=20, battery_ok=30)
MAINS = Liveness(Power.MAINS, 90, sleeps=False)
LWT_ONLY = Liveness(Power.MAINS, None, sleeps=False)
BATTERY = Liveness(Power.BATTERY, 3600 * 1.2, sleeps=True)


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def device(
    last_seen: datetime = T0,
    online: bool | None = True,
    online_since: datetime | None = None,
    battery: int | None = None,
) -> DeviceState:
    return DeviceState(
        button_id="b1",
        first_seen=T0 - s(86400),
        last_seen=last_seen,
        online=online,
        online_since=online_since,
        battery=battery,
    )


# -- liveness -------------------------------------------------------------------------------------


def test_a_mains_button_heard_within_its_bound_is_online() -> None:
    assert liveness_of(MAINS, device(), LIMITS, T0 - s(3600), T0 + s(90)).state is State.ONLINE


def test_a_mains_button_silent_past_its_bound_is_offline() -> None:
    finding = liveness_of(MAINS, device(), LIMITS, T0 - s(3600), T0 + s(91))
    assert finding.state is State.OFFLINE
    assert "silent for 91 s" in finding.reason


def test_silence_counts_from_when_the_hub_started_listening() -> None:
    """A hub that was down heard nothing: silence is counted from its (re)connection."""
    listening = T0 + s(600)
    assert liveness_of(MAINS, device(), LIMITS, listening, T0 + s(680)).state is State.ONLINE
    assert liveness_of(MAINS, device(), LIMITS, listening, T0 + s(691)).state is State.OFFLINE


def test_its_last_will_is_offline_only_after_the_flap_grace() -> None:
    """`offline` at T0: pending for 15 s (flapping raises nothing), then offline."""
    said = device(online=False, online_since=T0)
    assert liveness_of(MAINS, said, LIMITS, T0 - s(60), T0 + s(14.9)).state is State.PENDING
    finding = liveness_of(MAINS, said, LIMITS, T0 - s(60), T0 + s(15))
    assert finding.state is State.OFFLINE
    assert "offline since 2026-11-22 08:00:00 UTC" in finding.reason


def test_a_message_after_its_goodbye_means_it_is_back() -> None:
    back = device(last_seen=T0 + s(5), online=False, online_since=T0)
    assert liveness_of(MAINS, back, LIMITS, T0 - s(60), T0 + s(20)).state is State.ONLINE


def test_a_button_with_only_a_last_will_is_never_offline_by_silence() -> None:
    assert liveness_of(LWT_ONLY, device(), LIMITS, T0, T0 + s(86400)).state is State.ONLINE


def test_a_battery_button_is_offline_only_past_its_check_in_period_and_grace() -> None:
    """Checks in every hour (bound 1.2 h): silent 4319 s is fine, 4321 s is offline."""
    assert liveness_of(BATTERY, device(), LIMITS, T0, T0 + s(4319)).state is State.ONLINE
    finding = liveness_of(BATTERY, device(), LIMITS, T0, T0 + s(4321))
    assert finding.state is State.OFFLINE
    assert "check-in is due within 72 min" in finding.reason


def test_a_button_never_heard_from_is_unknown_then_offline() -> None:
    assert liveness_of(MAINS, None, LIMITS, T0, T0 + s(90)).state is State.UNHEARD
    finding = liveness_of(MAINS, None, LIMITS, T0, T0 + s(91))
    assert finding.state is State.OFFLINE
    assert "never heard from" in finding.reason
    assert liveness_of(LWT_ONLY, None, LIMITS, T0, T0 + s(91)).state is State.OFFLINE
    assert liveness_of(BATTERY, None, LIMITS, T0, T0 + s(4000)).state is State.UNHEARD


# -- actions --------------------------------------------------------------------------------------


def test_going_offline_sets_online_false_and_raises_once() -> None:
    actions = review(MAINS, device(), frozenset(), LIMITS, T0 - s(60), T0 + s(100))
    reason = "silent for 100 s (a message is due within 90 s)"
    assert actions == [SetOnline(False, reason), Raise(OFFLINE, reason)]
    already = device(online=False, online_since=T0 + s(100))
    assert review(MAINS, already, frozenset({OFFLINE}), LIMITS, T0 - s(60), T0 + s(200)) == []


def test_coming_back_sets_online_true_and_clears() -> None:
    back = device(last_seen=T0 + s(300), online=False, online_since=T0 + s(100))
    actions = review(MAINS, back, frozenset({OFFLINE}), LIMITS, T0 - s(60), T0 + s(301))
    assert actions == [SetOnline(True, "heard from"), Clear(OFFLINE, "heard from again")]


def test_within_the_flap_grace_an_open_trouble_stays_open_and_none_is_raised() -> None:
    flapping = device(online=False, online_since=T0)
    assert review(MAINS, flapping, frozenset({OFFLINE}), LIMITS, T0, T0 + s(5)) == []
    assert review(MAINS, flapping, frozenset(), LIMITS, T0, T0 + s(5)) == []


def test_never_heard_from_raises_but_leaves_online_unknown() -> None:
    actions = review(MAINS, None, frozenset(), LIMITS, T0, T0 + s(91))
    assert len(actions) == 1
    assert isinstance(actions[0], Raise)


def test_a_button_heard_without_a_status_becomes_online() -> None:
    """Heartbeats only (no status yet): `online` goes from null to true."""
    actions = review(MAINS, device(online=None), frozenset(), LIMITS, T0, T0 + s(1))
    assert actions == [SetOnline(True, "heard from")]


# -- battery and clock ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("battery", "expected"),
    [(None, None), (5, True), (20, True), (25, None), (30, False), (99, False)],
)
def test_battery_thresholds_with_hysteresis(battery: int | None, expected: bool | None) -> None:
    assert battery_low(battery, LIMITS) is expected


def test_low_battery_is_raised_and_cleared_by_a_new_battery_only() -> None:
    low = review(MAINS, device(battery=15), frozenset(), LIMITS, T0, T0)
    assert low == [Raise(LOW_BATTERY, "battery 15% (threshold 20%)")]
    wavering = review(MAINS, device(battery=24), frozenset({LOW_BATTERY}), LIMITS, T0, T0)
    assert wavering == []
    replaced = review(MAINS, device(battery=100), frozenset({LOW_BATTERY}), LIMITS, T0, T0)
    assert replaced == [Clear(LOW_BATTERY, "battery 100%")]


@pytest.mark.parametrize(
    ("offset", "expected"), [(0, None), (20, None), (21, 21), (-40, None), (-41, -41)]
)
def test_clock_skew_window_is_sia_dc09s(offset: float, expected: float | None) -> None:
    assert clock_skew(T0 + s(offset), T0, 20, 40) == expected
