"""Profiles of off-the-shelf buttons: each translates one vendor's topics and payloads into the
canonical messages of the contract. A registry entry names its profile and the device's own id:

    [[buttons]]
    id = "vcb-quay-1"
    profile = "shelly-gen1"
    native_id = "shellybutton1-A4CF12"

Buttons without a profile speak the contract itself (`{root}/dev/{button}/…`).
"""

from __future__ import annotations

from typing import Final

from devices.profiles.base import (
    CANONICAL,
    Power,
    Profile,
    ProfileName,
    ProfileSettings,
    Supervised,
)
from devices.profiles.esphome import Esphome
from devices.profiles.shelly_gen1 import ShellyGen1
from devices.profiles.shelly_gen2 import ShellyGen2
from devices.profiles.tasmota import Tasmota
from devices.profiles.zigbee2mqtt import Zigbee2Mqtt

__all__ = [
    "CANONICAL",
    "PROFILES",
    "PROFILE_NAMES",
    "Power",
    "Profile",
    "ProfileName",
    "ProfileSettings",
    "Supervised",
    "check_native_id",
    "make_profiles",
    "supervised_by",
]

PROFILES: Final[tuple[type[Profile], ...]] = (ShellyGen1, ShellyGen2, Tasmota, Esphome, Zigbee2Mqtt)
"""Every profile, one line each (docs/ARCHITECTURE.md, "Adding a vendor profile")."""
PROFILE_NAMES: Final[tuple[ProfileName, ...]] = tuple(cls.name for cls in PROFILES)


def make_profiles(settings: ProfileSettings | None = None) -> dict[str, Profile]:
    """One instance of every profile, by name (each keeps its own per-device memory)."""
    settings = settings or ProfileSettings()
    return {cls.name: cls.make(settings) for cls in PROFILES}


def _profile_class(name: str | None) -> type[Profile] | None:
    return next((cls for cls in PROFILES if cls.name == name), None)


def supervised_by(profile: str | None) -> Supervised:
    """The default supervision of a profile's devices (the contract's own for None)."""
    cls = _profile_class(profile)
    return CANONICAL if cls is None else cls.supervised


def check_native_id(profile: str, native_id: str) -> str:
    """Raise `ValueError` unless `native_id` can name a device of that (known) profile."""
    cls = _profile_class(profile)
    if cls is None:
        raise ValueError(f"unknown profile {profile!r}")
    return cls.check_native_id(native_id)
