"""What travels between a post and its district (docs/DISTRICT.md, "The link"), version 1.

| topic | from → to | QoS | payload |
| --- | --- | --- | --- |
| `{root}/up/{post}/change` | post → district | 1 | `ChangeMessage` |
| `{root}/up/{post}/heartbeat` | post → district | 1 | `HeartbeatMessage` |
| `{root}/up/{post}/status` | post → district | 1, retained, last will `lost` | the hub status |
| `{root}/up/{post}/ack` | district → post | 1 | `AckMessage` |

`{post}` is the sending hub's `hub.id` (a district is the "post" of its province).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from hub.clock import iso
from hub.domain.model import (
    Alarm,
    AlarmChange,
    AlarmDevice,
    PersonAck,
    PostRef,
    SiteRef,
)
from hub.domain.views import AlarmView

KINDS: Final = ("change", "heartbeat", "status", "ack")
_ID: Final = r"[a-z0-9][a-z0-9_-]{0,63}"


class UpTopics:
    def __init__(self, root: str) -> None:
        self.root = root
        self._re = re.compile(rf"{re.escape(root)}/up/([^/]*)/(change|heartbeat|status)\Z")

    def of(self, post: str, kind: Literal["change", "heartbeat", "status", "ack"]) -> str:
        return f"{self.root}/up/{post}/{kind}"

    @property
    def prefix(self) -> str:
        return f"{self.root}/up/"

    @property
    def district_subscriptions(self) -> tuple[tuple[str, int], ...]:
        return (
            (f"{self.root}/up/+/change", 1),
            (f"{self.root}/up/+/heartbeat", 1),
            (f"{self.root}/up/+/status", 1),
        )

    def parse(self, topic: str) -> tuple[str, str] | None:
        """(post, kind) of an upstream topic; None if it is not one or the post id is invalid."""
        match = self._re.match(topic)
        if match is None or not re.fullmatch(_ID, match.group(1)):
            return None
        return match.group(1), match.group(2)


class PostId(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(pattern=rf"^{_ID}$")
    name: str = Field(default="", max_length=200)


class ChangeMessage(BaseModel):
    """One alarm change: the alarm as it is after the change."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = 1
    post: PostId
    seq: int = Field(ge=1, description="the post's upstream row: what the district acknowledges")
    change_seq: int = Field(ge=1, description="the alarm's changes counted from 1, no gaps")
    change: AlarmChange
    actor: str | None = Field(default=None, max_length=200)
    at: datetime
    alarm: AlarmView

    @field_serializer("at")
    def _utc(self, value: datetime) -> str:
        return iso(value)


class HeartbeatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = 1
    post: PostId
    at: datetime
    period_s: float = Field(gt=0, le=3600)
    broker_connected: bool
    buttons_offline: int = Field(ge=0)
    open_alarms: int = Field(ge=0)
    pending: int = Field(default=0, ge=0, description="changes not yet acknowledged")
    version: str = ""

    @field_serializer("at")
    def _utc(self, value: datetime) -> str:
        return iso(value)


class AckMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    seqs: list[int] = Field(max_length=10_000)


def alarm_at_district(
    view: AlarmView,
    sender: PostId,
    *,
    seq: int,
    level: int,
    updated_at: datetime,
    alarm_id: str | None = None,
) -> Alarm:
    """The post's alarm as the district keeps it: its own `seq` and escalation `level`; `post`
    is the post that raised it (through a district, the original post)."""
    origin = view.post
    post = PostRef(origin.id, origin.name) if origin else PostRef(sender.id, sender.name)
    site = view.site
    return Alarm(
        id=view.id if alarm_id is None else alarm_id,
        seq=seq,
        state=view.state,
        level=level,
        site=None if site is None else SiteRef(site.id, site.name, site.address, site.phone),
        devices=tuple(AlarmDevice(button, "") for button in view.devices),
        press_count=view.press_count,
        test=view.test,
        unregistered=view.unregistered,
        raised_at=view.raised_at,
        last_press_at=view.last_press_at,
        updated_at=updated_at,
        acknowledged_at=view.acknowledged_at,
        acknowledged_by=view.acknowledged_by,
        resolved_at=view.resolved_at,
        resolved_by=view.resolved_by,
        outcome=view.outcome,
        note=view.note,
        kind=view.kind,
        acks=tuple(PersonAck(ack.person, ack.at) for ack in view.acks),
        post=post,
    )
