"""What the features write, as typed operations; what they read, as typed records.

A feature never writes SQL: inside a pipeline plan it appends operations to the batch's
`Changes.ops` (`StartEscalation`, `QueueNotification`, `InsertSession`, ...), and the store turns
each one into its statement inside the batch's one transaction (`hub.store.changes`). Reads come
back as the records below. Nothing here knows SQL: a second backend implements the same
operations and returns the same records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple, TypeAlias

from hub.domain.model import Button, Role, Site, TroubleKind


class PressRow(NamedTuple):
    """One stored press; the store maps its fields to the `presses` columns of the same names."""

    button_id: str
    event_id: str
    type: str
    alarm_id: str | None
    received_at: str
    device_ts: str | None
    seq: int | None
    battery: int | None
    test: int
    anomalies: str | None
    """JSON list of the anomalies found, or None"""


# -- escalations -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartEscalation:
    """The escalation of one alarm or trouble; kept as it is if the subject has one already."""

    subject: str
    policy: str
    started_at: datetime
    next_due_at: datetime | None
    at: datetime
    alarm_id: str | None = None
    trouble_id: int | None = None
    site_id: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateEscalation:
    subject: str
    progress: dict[int, int]
    """step number -> rounds fired"""
    next_due_at: datetime | None
    state: Literal["running", "finished", "stopped"]
    at: datetime


@dataclass(frozen=True, slots=True)
class RecheckSiteTroubles:
    """Running trouble escalations of a site fall due at `at` (never later than they were)."""

    site_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class StopEscalation:
    subject: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Due:
    """An escalation row whose deadline has come, as the scheduler read it."""

    subject: str
    alarm_id: str | None
    trouble_id: int | None
    trouble_kind: TroubleKind | None
    trouble_subject: str | None
    policy: str
    started_at: datetime
    progress: dict[int, int]
    next_due_at: datetime


# -- the outbox ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueNotification:
    """A pending notification; ignored if one with the same key exists."""

    key: str
    notifier: str
    event: str
    body: dict[str, Any]
    at: datetime
    alarm_id: str | None = None
    trouble_id: int | None = None


@dataclass(frozen=True, slots=True)
class CancelAlarmNotifications:
    """The alarm's pending `alarm` notifications are cancelled."""

    alarm_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CancelNotifierForAlarm:
    """One notifier's pending `alarm` notifications of the alarm are cancelled (its person
    acknowledged)."""

    alarm_id: str
    notifier: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CancelTroubleNotifications:
    trouble_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class RecordNotificationAttempt:
    seq: int
    attempts: int


@dataclass(frozen=True, slots=True)
class RetryNotification:
    seq: int
    error: str
    next_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class FinishNotification:
    seq: int
    state: Literal["delivered", "failed"]
    error: str | None
    attempts: int
    at: datetime


@dataclass(frozen=True, slots=True)
class AbandonNotifier:
    """Every pending notification of this notifier fails with `error`."""

    notifier: str
    error: str
    at: datetime


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    key: str
    notifier: str
    event: str
    """alarm (a step fired), clear (the alarm no longer needs a device on), trouble"""
    alarm_id: str | None
    trouble_id: int | None
    body: dict[str, Any]
    created_at: datetime
    next_attempt_at: datetime
    attempts: int


# -- upstream (a post toward its district) and the district's record of its posts -----------------


@dataclass(frozen=True, slots=True)
class QueueUpstream:
    """One alarm change for the district; its `change_seq` is the alarm's next (from 1)."""

    alarm_id: str
    change: str
    body: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class MarkUpstreamAcked:
    """The district has these changes (by the upstream row's `seq`)."""

    seqs: tuple[int, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class UpstreamRow:
    seq: int
    alarm_id: str
    change_seq: int
    change: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecordPostChange:
    """At a district: one change received from a post (kept once per post, alarm, change_seq);
    also the record `Store.post_changes` reads back."""

    post_id: str
    alarm_id: str
    change_seq: int
    change: str
    actor: str | None
    at: datetime
    received_at: datetime
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UpsertPost:
    post_id: str
    name: str
    period_s: float
    at: datetime


@dataclass(frozen=True, slots=True)
class PostRecord:
    id: str
    name: str
    period_s: float


# -- the registry ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InsertSite:
    site: Site
    at: datetime


@dataclass(frozen=True, slots=True)
class DeleteSite:
    site_id: str


@dataclass(frozen=True, slots=True)
class InsertButton:
    button: Button
    at: datetime


@dataclass(frozen=True, slots=True)
class DeleteButton:
    button_id: str


TestModeKind: TypeAlias = Literal["button", "site"]


@dataclass(frozen=True, slots=True)
class UpdateTestMode:
    kind: TestModeKind
    subject: str
    on: bool
    at: datetime
    until: datetime | None = None
    """when it ends by itself; None: no end"""


@dataclass(frozen=True, slots=True)
class UpdateSite:
    """A site's name, address, phone and position (its id and test mode stay)."""

    site: Site
    at: datetime


@dataclass(frozen=True, slots=True)
class UpdateButton:
    """A button's site, label and check-in period (its device and test mode stay)."""

    button: Button
    at: datetime


@dataclass(frozen=True, slots=True)
class UntestedButton:
    """A registered button without a recent test press (`last_test_at` None: never tested)."""

    button_id: str
    site_id: str | None
    site_name: str | None
    label: str | None
    last_test_at: str | None


@dataclass(frozen=True, slots=True)
class ButtonListing:
    """A button with what the hub last heard of it, for `chuong registry list`."""

    button: Button
    online: bool | None
    """None: never heard"""
    last_seen: str | None
    battery: int | None


# -- users, sessions and tokens ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeleteExpiredSessions:
    at: datetime


@dataclass(frozen=True, slots=True)
class InsertSession:
    id_hash: str
    user_id: int
    created_at: datetime
    expires_at: datetime
    address: str


@dataclass(frozen=True, slots=True)
class RehashPassword:
    user_id: int
    password_hash: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DeleteSession:
    id_hash: str


@dataclass(frozen=True, slots=True)
class InsertUser:
    """A new user (nothing if the name is taken meanwhile)."""

    username: str
    role: Role
    password_hash: str
    display_name: str
    at: datetime


UserField: TypeAlias = Literal["role", "password_hash", "display_name", "disabled_at"]


@dataclass(frozen=True, slots=True)
class SetUserField:
    username: str
    field: UserField
    value: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class EndUserSessions:
    username: str


@dataclass(frozen=True, slots=True)
class DeleteUser:
    username: str


@dataclass(frozen=True, slots=True)
class UserListing:
    """A user as the admin's list shows them: no hash, the count of live sessions."""

    username: str
    role: Role
    created_at: str
    display_name: str
    sessions: int
    disabled_at: str | None = None
    """when an admin disabled them; None: they may log in"""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    role: Role
    password_hash: str
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class SessionRecord:
    username: str
    role: Role
    expires_at: str


@dataclass(frozen=True, slots=True)
class UserSummary:
    username: str
    role: Role
    created_at: str
    sessions: int
    display_name: str = ""
    disabled_at: str | None = None


@dataclass(frozen=True, slots=True)
class TokenRow:
    name: str
    role: str
    created_at: str
    revoked_at: str | None
    created_by: str = "cli"


@dataclass(frozen=True, slots=True)
class InsertToken:
    """A new API token's hash (nothing if a live token has the name meanwhile)."""

    name: str
    role: Role
    token_hash: str
    created_by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RevokeToken:
    """Revoke the live token of this name (nothing if there is none)."""

    name: str
    at: datetime


Op: TypeAlias = (
    InsertToken
    | RevokeToken
    | StartEscalation
    | UpdateEscalation
    | RecheckSiteTroubles
    | StopEscalation
    | QueueNotification
    | CancelAlarmNotifications
    | CancelNotifierForAlarm
    | CancelTroubleNotifications
    | RecordNotificationAttempt
    | RetryNotification
    | FinishNotification
    | AbandonNotifier
    | InsertSite
    | DeleteSite
    | InsertButton
    | DeleteButton
    | UpdateTestMode
    | UpdateSite
    | UpdateButton
    | DeleteExpiredSessions
    | InsertSession
    | RehashPassword
    | DeleteSession
    | InsertUser
    | SetUserField
    | EndUserSessions
    | DeleteUser
    | QueueUpstream
    | MarkUpstreamAcked
    | RecordPostChange
    | UpsertPost
)
"""Every operation a feature may add to a batch's `Changes.ops`."""
