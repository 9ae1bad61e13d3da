"""Which kind of alarm a press raises. Pure.

A button has a kind in the registry (`holdup` unless set), and may map press patterns to other
kinds (`press_patterns = { long_press = "fire" }`); a profile may do the same for all its devices
(`[profiles.press_patterns]`, e.g. every Zigbee SOS button's `emergency` is `medical`). A pattern
is the canonical event type (`press`, `double_press`, `long_press`) or the vendor's own word for
the action (`emergency`, `single_push`, `L`). For one press, the first match wins, in this order:

1. the button's own patterns, the vendor's word first, then the event type;
2. its profile's patterns, in the same order;
3. the button's kind (`holdup` for a button the registry does not know).

A test press (type `test`) has no pattern: it is a test of the button's own kind. A press never
raises `comm_loss`: that kind is the hub's own, for buttons that went silent together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator, Field

from devices.messages import EventType
from hub.domain.model import AlarmKind, Button
from hub.errors import CodedValueError

CANONICAL_SOURCE: Final = "canonical"
"""The profile name of buttons that speak the contract (the reference button)."""

PRESS_KINDS: Final = (AlarmKind.HOLDUP, AlarmKind.FIRE, AlarmKind.MEDICAL, AlarmKind.ASSISTANCE)
"""The kinds a press may raise."""

KIND_LABELS: Final[dict[str, dict[AlarmKind, str]]] = {
    "vi": {
        AlarmKind.HOLDUP: "Cướp giật / đột nhập",
        AlarmKind.FIRE: "Cháy",
        AlarmKind.MEDICAL: "Cấp cứu y tế",
        AlarmKind.ASSISTANCE: "Cần hỗ trợ",
        AlarmKind.COMM_LOSS: "Mất liên lạc",
    },
    "en": {
        AlarmKind.HOLDUP: "Hold-up / break-in",
        AlarmKind.FIRE: "Fire",
        AlarmKind.MEDICAL: "Medical emergency",
        AlarmKind.ASSISTANCE: "Assistance needed",
        AlarmKind.COMM_LOSS: "Loss of communication",
    },
}
"""The words for each alarm kind by language (vi, en), in messages and reports; the page has
the same words (hub/web/static/i18n.js, `kind.*`)."""

_PATTERN: Final = re.compile(r"[A-Za-z0-9_.:-]{1,32}")
_NOT_PATTERNS: Final = frozenset({EventType.TEST, EventType.CANCEL, EventType.TAMPER})

Patterns = Mapping[str, AlarmKind]


def check_pattern(word: str) -> str:
    """A press pattern as written in the registry or the configuration, or ValueError."""
    if not _PATTERN.fullmatch(word):
        raise CodedValueError(
            f"press pattern {word[:40]!r}: an event type (press, double_press, long_press) or "
            "the vendor's word for the action (1 to 32 letters, digits, _ . : -)",
            "pattern_invalid",
            pattern=word[:40],
        )
    if word in {t.value for t in _NOT_PATTERNS}:
        raise CodedValueError(
            f"press pattern {word!r}: a {word} event raises no alarm",
            "pattern_no_alarm",
            pattern=word,
        )
    return word


def check_press_kind(value: str) -> AlarmKind:
    """A kind a press may raise, or ValueError naming the ones it may."""
    known = ", ".join(k.value for k in PRESS_KINDS)
    try:
        kind = AlarmKind(value)
    except ValueError:
        raise CodedValueError(
            f"unknown alarm kind {value!r} (known: {known})", "kind_unknown", kind=value[:40]
        ) from None
    if kind not in PRESS_KINDS:
        raise CodedValueError(
            f"a press cannot raise {value!r}: the hub raises it (known: {known})",
            "kind_not_pressable",
            kind=value,
        )
    return kind


def check_patterns(patterns: Mapping[str, str]) -> dict[str, AlarmKind]:
    return {check_pattern(word): check_press_kind(kind) for word, kind in patterns.items()}


def _press_kind(value: object) -> object:
    return check_press_kind(value) if isinstance(value, str) else value


PatternWord = Annotated[str, AfterValidator(check_pattern)]
"""A press pattern in a registry entry, an API body or the configuration."""
PressKind = Annotated[AlarmKind, BeforeValidator(_press_kind)]
"""A kind a press may raise, in a registry entry, an API body or the configuration."""

ButtonKind = Annotated[
    PressKind,
    Field(
        default=AlarmKind.HOLDUP,
        description="The kind of alarm its presses raise: holdup, fire, medical or assistance.",
    ),
]
"""A button's kind, in a registry entry or an API body."""
ButtonPatterns = Annotated[
    dict[PatternWord, PressKind],
    Field(
        default_factory=dict,
        max_length=16,
        description="Press patterns that raise another kind: an event type (press, "
        "double_press, long_press) or the vendor's word for the action, as "
        '`{"long_press": "fire"}`.',
    ),
]
"""A button's own press patterns, in a registry entry or an API body."""


def kind_of_press(
    button: Button | None,
    event_type: EventType,
    action: str | None,
    profile_patterns: Patterns,
) -> AlarmKind:
    """The kind of alarm this press raises (or joins)."""
    default = button.kind if button is not None else AlarmKind.HOLDUP
    if event_type in _NOT_PATTERNS:
        return default
    words = (event_type.value,) if action is None else (action, event_type.value)
    own = dict(button.press_patterns) if button is not None else {}
    for patterns in (own, profile_patterns):
        for word in words:
            if word in patterns:
                return patterns[word]
    return default
