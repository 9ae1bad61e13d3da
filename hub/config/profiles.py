"""[profiles]: off-the-shelf buttons (devices/profiles) the hub listens to."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

from devices.profiles import PROFILE_NAMES, Profile, ProfileName, ProfileSettings, make_profiles
from devices.topics import check_root
from hub.domain.kinds import CANONICAL_SOURCE, Patterns, PatternWord, PressKind


def _source(value: str) -> str:
    known = (CANONICAL_SOURCE, *PROFILE_NAMES)
    if value not in known:
        raise ValueError(f"unknown profile {value!r} (known: {', '.join(known)})")
    return value


PatternSource = Annotated[str, AfterValidator(_source)]


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

    press_patterns: dict[PatternSource, dict[PatternWord, PressKind]] = Field(
        default_factory=dict,
        description="Per profile (`canonical` for buttons that speak the contract), press "
        'patterns that raise another kind of alarm: `zigbee2mqtt = { emergency = "medical" }`. '
        "A button's own patterns in the registry come first.",
    )

    def patterns(self) -> dict[str, Patterns]:
        """Each profile's press patterns."""
        return {name: dict(found) for name, found in self.press_patterns.items()}

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
