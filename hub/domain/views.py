"""The alarm object of the contract (docs/CONTRACT.md), the same in MQTT and in the HTTP API.

    {"id", "state", "level", "site": {"id", "name"} | null, "devices": [button ids],
     "press_count", "raised_at", "acknowledged_at", "acknowledged_by", "resolved_at", "outcome",
     "test", "kind"}

plus fields the contract leaves room for and the officer needs: the site's address and phone,
`unregistered`, `last_press_at`, `resolved_by`, `note` and `acks` (people who acknowledged from
their phone links). Times are UTC ISO-8601.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from hub.clock import iso
from hub.domain.model import Alarm, AlarmKind, AlarmState, Outcome


class SiteRefView(BaseModel):
    """The site as kept with an alarm (`SiteRef`); the registry's is `hub.api.registry.SiteView`."""

    id: str
    name: str
    address: str = ""
    phone: str = ""


class PostRefView(BaseModel):
    """At a district: the post whose alarm it is (docs/DISTRICT.md)."""

    id: str
    name: str


class PersonAckView(BaseModel):
    """One person's acknowledgement from their phone link."""

    person: str
    at: datetime

    @field_serializer("at")
    def _utc(self, value: datetime) -> str:
        return iso(value)


class AlarmView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    state: AlarmState
    level: int = Field(description="0 when raised; each escalation step adds one")
    site: SiteRefView | None = Field(description="null for a button the registry does not know")
    devices: list[str] = Field(description="buttons in the alarm, in the order they joined")
    press_count: int
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    outcome: Outcome | None
    test: bool
    unregistered: bool = Field(description="raised by a button the registry does not know")
    last_press_at: datetime
    resolved_by: str | None
    note: str | None
    acks: list[PersonAckView] = Field(
        default_factory=list,
        description="who acknowledged from their own phone link, in order; with a step's "
        '`ack = "each"` the alarm stays active until all its people are here',
    )
    kind: AlarmKind = Field(
        default=AlarmKind.HOLDUP,
        description="what the alarm is about: holdup (the default), fire, medical, assistance, "
        "comm_loss (several buttons went offline at once)",
    )
    post: PostRefView | None = Field(
        default=None, description="at a district: the post that raised it; null at the post"
    )

    @field_serializer("raised_at", "acknowledged_at", "resolved_at", "last_press_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else iso(value)

    @classmethod
    def of(cls, alarm: Alarm) -> AlarmView:
        site = alarm.site
        return cls(
            id=alarm.id,
            state=alarm.state,
            level=alarm.level,
            site=None
            if site is None
            else SiteRefView(id=site.id, name=site.name, address=site.address, phone=site.phone),
            devices=list(alarm.buttons),
            press_count=alarm.press_count,
            raised_at=alarm.raised_at,
            acknowledged_at=alarm.acknowledged_at,
            acknowledged_by=alarm.acknowledged_by,
            resolved_at=alarm.resolved_at,
            outcome=alarm.outcome,
            test=alarm.test,
            unregistered=alarm.unregistered,
            last_press_at=alarm.last_press_at,
            resolved_by=alarm.resolved_by,
            note=alarm.note,
            kind=alarm.kind,
            acks=[PersonAckView(person=a.person, at=a.at) for a in alarm.acks],
            post=None
            if alarm.post is None
            else PostRefView(id=alarm.post.id, name=alarm.post.name),
        )


def alarm_json(alarm: Alarm) -> str:
    return AlarmView.of(alarm).model_dump_json()
