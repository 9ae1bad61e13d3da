"""The hub's domain records: sites, buttons, alarms, troubles, device state.

Frozen dataclasses: the pure decisions return new records rather than changing old ones, so a
batch that fails to commit leaves the hub's state as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final


class AlarmState(StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Outcome(StrEnum):
    GENUINE = "genuine"
    FALSE_ALARM = "false_alarm"
    TEST = "test"
    OTHER = "other"


class AlarmKind(StrEnum):
    """What an alarm is about: set per button in the registry, or by the press pattern."""

    HOLDUP = "holdup"
    FIRE = "fire"
    MEDICAL = "medical"
    ASSISTANCE = "assistance"
    COMM_LOSS = "comm_loss"
    """several buttons of a site (or of the commune) went offline at once"""


class Role(StrEnum):
    VIEWER = "viewer"
    OFFICER = "officer"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        return _ROLE_RANK[self] >= _ROLE_RANK[needed]


_ROLE_RANK = {Role.VIEWER: 0, Role.OFFICER: 1, Role.ADMIN: 2}


class AlarmChange(StrEnum):
    """What happened to an alarm: the bus's `AlarmChanged.change`, the audit's `alarm.<change>`."""

    RAISED = "raised"
    PRESS = "press"
    """a button of the alarm pressed again"""
    JOINED = "joined"
    """another button of the site joined the open alarm"""
    ACKNOWLEDGED = "acknowledged"
    PERSON_ACKNOWLEDGED = "person_acknowledged"
    """one of the people an `ack = "each"` step named acknowledged from their link; the alarm
    stays active until all of them have (docs/ESCALATION.md, "Each person acknowledges")"""
    RESOLVED = "resolved"
    ESCALATED = "escalated"


class AckState(StrEnum):
    """What a button hears back on its `ack` topic about its event."""

    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


ACK_STATE: Final[Mapping[AlarmState, AckState]] = {
    AlarmState.ACTIVE: AckState.RECEIVED,
    AlarmState.ACKNOWLEDGED: AckState.ACKNOWLEDGED,
    AlarmState.RESOLVED: AckState.RESOLVED,
}
"""The ack a button hears for an alarm in each state."""


class TroubleKind(StrEnum):
    """Every kind of trouble the hub raises; the values are stored and shown as they are."""

    # a button
    TAMPER = "tamper"
    BAD_MESSAGES = "bad_messages"
    OFFLINE = "offline"
    LOW_BATTERY = "low_battery"
    CLOCK_SKEW = "clock_skew"
    POSSIBLE_FORGERY = "possible_forgery"
    TEST_MODE = "test_mode"
    """a button left in test mode"""
    SITE_TEST_MODE = "site_test_mode"
    # the hub itself (subject `hub`) or one of its notifiers
    SESSION_LOST = "session_lost"
    BROKER_DISCONNECTED = "broker_disconnected"
    STORE_UNWRITABLE = "store_unwritable"
    INTERNAL_ERROR = "internal_error"
    NOTIFIER_FAILING = "notifier_failing"
    UPSTREAM_LOST = "upstream_lost"
    """the link to the district is down: the district cannot see the post's alarms"""
    # a district: one of its posts (subject: the post id)
    POST_SILENT = "post_silent"
    """no heartbeat from the post for longer than its period plus the grace"""


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    address: str = ""
    phone: str = ""
    lat: float | None = None
    lon: float | None = None
    test_mode: bool = False
    test_until: datetime | None = None
    """when test mode ends by itself; None: it stays until turned off"""

    def testing(self, at: datetime) -> bool:
        """In test mode at `at` (an end that has come counts as off, before the hub writes it)."""
        return self.test_mode and (self.test_until is None or at < self.test_until)


@dataclass(frozen=True, slots=True)
class Button:
    id: str
    site_id: str | None
    label: str = ""
    profile: str | None = None
    native_id: str | None = None
    test_mode: bool = False
    power: str | None = None
    """`mains` or `battery`; None: the profile's default (see `hub.supervision.policy`)"""
    checkin_s: int | None = None
    """battery buttons: the period within which the button checks in; None: the profile's"""
    sign_key: str | None = None
    """hex HMAC key of a button that signs its events (devices/signing.py); never shown"""
    test_until: datetime | None = None
    """when test mode ends by itself; None: it stays until turned off"""
    kind: AlarmKind = AlarmKind.HOLDUP
    """the kind of alarm its presses raise (`hub.domain.kinds`)"""
    press_patterns: tuple[tuple[str, AlarmKind], ...] = ()
    """(press pattern, kind): presses of that pattern raise that kind instead"""

    def testing(self, at: datetime) -> bool:
        """In test mode at `at` (an end that has come counts as off, before the hub writes it)."""
        return self.test_mode and (self.test_until is None or at < self.test_until)


@dataclass(frozen=True, slots=True)
class SiteRef:
    """The site as it was when the alarm was raised (kept with the alarm)."""

    id: str
    name: str
    address: str
    phone: str


@dataclass(frozen=True, slots=True)
class PostRef:
    """At a district (or province) hub: the post whose alarm this is (docs/DISTRICT.md)."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class AlarmDevice:
    button: str
    last_event: str


@dataclass(frozen=True, slots=True)
class PersonAck:
    """One person's acknowledgement from their phone link."""

    person: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Alarm:
    id: str
    seq: int
    state: AlarmState
    level: int
    site: SiteRef | None
    devices: tuple[AlarmDevice, ...]
    press_count: int
    test: bool
    unregistered: bool
    raised_at: datetime
    last_press_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    outcome: Outcome | None = None
    note: str | None = None
    kind: AlarmKind = AlarmKind.HOLDUP
    acks: tuple[PersonAck, ...] = ()
    """who acknowledged from their own link, in order (every link acknowledgement is listed,
    also the one that acknowledged the alarm)"""
    post: PostRef | None = None
    """None at the post itself; at a district, the post that raised it (changed there only)"""

    @property
    def is_open(self) -> bool:
        return self.state is not AlarmState.RESOLVED

    @property
    def buttons(self) -> tuple[str, ...]:
        return tuple(device.button for device in self.devices)


class TroubleState(StrEnum):
    OPEN = "open"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class Trouble:
    id: int
    kind: TroubleKind
    subject: str
    site_id: str | None
    state: TroubleState
    raised_at: datetime
    cleared_at: datetime | None
    detail: str


@dataclass(frozen=True, slots=True)
class DeviceState:
    """What the hub last heard from one button."""

    button_id: str
    first_seen: datetime
    last_seen: datetime
    online: bool | None = None
    battery: int | None = None
    rssi: int | None = None
    fw: str | None = None
    last_event: str | None = None
    online_since: datetime | None = None
    """when `online` last changed: the button said so, or supervision declared it"""
    last_seq: int | None = None
    """the counter of the last signed event accepted from the button"""
    last_seq_key: str | None = None
    """the id of the key that event was signed with (devices.signing.key_id)"""
