"""hub/domain/kinds.py: which kind a press raises, and what a pattern may be."""

from __future__ import annotations

import pytest

from devices.messages import EventType
from hub.domain.kinds import check_pattern, check_patterns, kind_of_press
from hub.domain.model import AlarmKind, Button

FIRE, MEDICAL, HOLDUP = AlarmKind.FIRE, AlarmKind.MEDICAL, AlarmKind.HOLDUP


def test_the_first_match_wins_own_patterns_then_the_profile_s_then_the_kind() -> None:
    button = Button(
        "b", None, kind=AlarmKind.ASSISTANCE, press_patterns=(("L", FIRE), ("long_press", MEDICAL))
    )
    profile = {"long_press": HOLDUP, "double_press": MEDICAL, "S": FIRE}
    assert kind_of_press(button, EventType.LONG_PRESS, "L", profile) is FIRE  # the vendor word
    assert kind_of_press(button, EventType.LONG_PRESS, "hold", profile) is MEDICAL
    assert kind_of_press(button, EventType.DOUBLE_PRESS, None, profile) is MEDICAL
    assert kind_of_press(button, EventType.PRESS, "S", profile) is FIRE
    assert kind_of_press(button, EventType.PRESS, "single", profile) is AlarmKind.ASSISTANCE
    assert kind_of_press(button, EventType.TEST, "L", profile) is AlarmKind.ASSISTANCE
    assert kind_of_press(None, EventType.LONG_PRESS, None, profile) is HOLDUP
    assert kind_of_press(None, EventType.PRESS, "S", profile) is FIRE
    assert kind_of_press(None, EventType.PRESS, None, {}) is HOLDUP


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ({"long_press": "smoke"}, "unknown alarm kind 'smoke' (known: holdup, fire, medical"),
        ({"long_press": "comm_loss"}, "a press cannot raise 'comm_loss'"),
        ({"tamper": "fire"}, "press pattern 'tamper': a tamper event raises no alarm"),
        ({"long press": "fire"}, "press pattern 'long press': an event type"),
        ({"": "fire"}, "press pattern ''"),
    ],
)
def test_bad_patterns_are_refused_with_the_reason(patterns: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        check_patterns(patterns)


def test_good_patterns() -> None:
    assert check_patterns({"long_press": "fire", "emergency": "medical"}) == {
        "long_press": FIRE,
        "emergency": MEDICAL,
    }
    assert check_pattern("input:0.long_push") == "input:0.long_push"
