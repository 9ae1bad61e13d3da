"""[profiles]: off-the-shelf buttons (devices/profiles) the hub listens to."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from devices.profiles import PROFILE_NAMES
from devices.topics import check_root


class ProfilesSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listen: list[str] = Field(
        default_factory=list,
        description="Profiles to listen to even while no registered button uses them (to hear "
        "SOS buttons on a shared Zigbee network); those in use by the registry are always heard.",
    )
    zigbee2mqtt_base_topic: str = Field(
        default="zigbee2mqtt", description="Zigbee2MQTT's `mqtt.base_topic`."
    )

    @field_validator("listen")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in PROFILE_NAMES]
        if unknown:
            raise ValueError(f"unknown profile {unknown[0]!r} (known: {', '.join(PROFILE_NAMES)})")
        return value

    @field_validator("zigbee2mqtt_base_topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        return check_root(value)
