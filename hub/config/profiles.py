"""[profiles]: off-the-shelf buttons (devices/profiles) the hub listens to."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from devices.profiles import PROFILE_NAMES, Profile, ProfileName, ProfileSettings, make_profiles
from devices.topics import check_root


class ProfilesSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listen: list[ProfileName] = Field(
        default_factory=list,
        description="Profiles to listen to even while no registered button uses them (to hear "
        "SOS buttons on a shared Zigbee network); those in use by the registry are always heard.",
    )
    zigbee2mqtt_base_topic: str = Field(
        default="zigbee2mqtt", description="Zigbee2MQTT's `mqtt.base_topic`."
    )

    @field_validator("listen", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        unknown = [n for n in value if n not in PROFILE_NAMES] if isinstance(value, list) else []
        if unknown:
            raise ValueError(f"unknown profile {unknown[0]!r} (known: {', '.join(PROFILE_NAMES)})")
        return value

    @field_validator("zigbee2mqtt_base_topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        return check_root(value)

    def make_profiles(self) -> dict[str, Profile]:
        """Every profile, made with these settings: the one place they are wired."""
        return make_profiles(ProfileSettings(zigbee2mqtt_base=self.zigbee2mqtt_base_topic))
