"""[hub]: who this hub is and how it speaks."""

from __future__ import annotations

import re
import socket
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from devices.messages import BUTTON_ID_RE


def default_hub_id() -> str:
    """The host name, made into a valid id. Set `hub.id` explicitly on every post: alarm ids
    start with it, so it must be unique where posts' alarms meet (the district broker)."""
    name = re.sub(r"[^a-z0-9_-]+", "-", socket.gethostname().lower()).strip("-_")[:64]
    return name if BUTTON_ID_RE.match(name) else "hub"


class HubSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        default_factory=default_hub_id,
        description="Unique id of this hub: prefix of its alarm ids, part of its MQTT client id.",
    )
    name: str = Field(default="Công an xã", description="Name of the post, shown on the page.")
    mode: Literal["post", "district"] = Field(
        default="post",
        description="post: buttons of its own; district: the alarms of its posts "
        "(docs/DISTRICT.md).",
    )
    language: Literal["vi", "en"] = Field(default="vi", description="Language of messages.")
    timezone: str = Field(
        default="Asia/Ho_Chi_Minh",
        description="IANA time zone for the page and the monthly reports (times are stored UTC).",
    )
    public_url: AnyHttpUrl | None = Field(
        default=None, description="Address of the page as officers' phones reach it (for links)."
    )
    shutdown_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How long a clean stop may take before it is forced.",
    )

    @field_validator("id")
    @classmethod
    def _id_is_valid(cls, value: str) -> str:
        if not BUTTON_ID_RE.match(value):
            raise ValueError(
                "must be 1-64 of a-z, 0-9, '_' or '-', starting with a letter or digit"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_is_known(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Ho_Chi_Minh)") from None
        return value
