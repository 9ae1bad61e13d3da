"""The helpers every profile shares: ids, edge memory, the profile table."""

from __future__ import annotations

from typing import get_args

import pytest

from devices.messages import EVENT_ID_RE, is_button_id
from devices.profiles import (
    CANONICAL,
    PROFILE_NAMES,
    PROFILES,
    Power,
    Profile,
    ProfileName,
    ProfileSettings,
    make_profiles,
    supervised_by,
)
from devices.profiles.base import Memory, event_id
from devices.profiles.zigbee2mqtt import Zigbee2Mqtt


def test_event_ids_fit_the_contract() -> None:
    """Parts joined when they fit; otherwise the first part and a digest (still unique)."""
    assert event_id("ta", 1, "SINGLE", 1795334400000) == "ta-1-SINGLE-1795334400000"
    long = event_id("z2m", "x" * 80, 1)
    other = event_id("z2m", "x" * 79, 1)
    assert EVENT_ID_RE.match(long)
    assert long.startswith("z2m-")
    assert long != other
    assert EVENT_ID_RE.match(event_id("z2m", "nút khẩn cấp", 1))


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("sos-kitchen", "z2m-sos-kitchen"),
        ("0x00158d0001a2b3c4", "z2m-0x00158d0001a2b3c4"),
    ],
)
def test_unregistered_ids_keep_clean_native_ids(native: str, expected: str) -> None:
    assert Zigbee2Mqtt().unregistered_id(native) == expected


@pytest.mark.parametrize(
    "native", ["Kitchen SOS", "kitchen sos", "Nút SOS quầy 1", "x" * 120, "!!!"]
)
def test_unregistered_ids_of_odd_names_are_valid_and_distinct(native: str) -> None:
    made = Zigbee2Mqtt().unregistered_id(native)
    assert is_button_id(made), made
    assert made.startswith("z2m-")
    others = {
        Zigbee2Mqtt().unregistered_id(n) for n in ("Kitchen SOS", "kitchen sos", "kitchen-sos")
    }
    assert len(others) == 3


def test_memory_forgets_the_oldest_beyond_its_limit() -> None:
    memory = Memory(limit=2)
    assert memory.swap("a", "sos", True) is None
    memory.swap("b", "sos", True)
    memory.swap("c", "sos", True)
    assert memory.swap("a", "sos", False) is None  # forgotten: unknown again
    assert memory.swap("c", "sos", False) is True


def test_native_ids_are_one_topic_level() -> None:
    profiles = make_profiles()
    assert sorted(profiles) == sorted(PROFILE_NAMES)
    for profile in profiles.values():
        assert profile.check_native_id("quay-1") == "quay-1"
        for bad in ("a/b", "a+", "#", "", "x" * 129):
            with pytest.raises(ValueError, match="one MQTT topic level"):
                profile.check_native_id(bad)


def test_supervision_defaults_by_profile() -> None:
    assert supervised_by(None) is CANONICAL
    assert supervised_by("shelly-gen1").power is Power.BATTERY
    assert supervised_by("tasmota").power is Power.MAINS
    assert supervised_by("esphome").checkin_s is None
    assert supervised_by("zigbee2mqtt").sleep_will is False


def test_every_profile_module_is_listed_once_under_a_name_of_the_literal() -> None:
    """A profile module whose class is missing from PROFILES would never be heard; the names of
    PROFILES are exactly `ProfileName`, which pydantic and mypy check the config against."""
    import importlib
    import inspect
    import pkgutil

    import devices.profiles

    found = set()
    for module in pkgutil.iter_modules(devices.profiles.__path__):
        loaded = importlib.import_module(f"devices.profiles.{module.name}")
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(cls, Profile) and not inspect.isabstract(cls):
                found.add(cls)
    assert found == set(PROFILES)
    assert sorted(PROFILE_NAMES) == sorted(get_args(ProfileName))
    assert len(set(PROFILE_NAMES)) == len(PROFILES)


def test_settings_reach_the_profile_that_needs_them() -> None:
    profiles = make_profiles(ProfileSettings(zigbee2mqtt_base="z2m"))
    assert ("z2m/+", 1) in profiles["zigbee2mqtt"].subscriptions()
    assert ProfileSettings().zigbee2mqtt_base == "zigbee2mqtt"
