"""Unit tests of what issue 5 added to registry entries: profiles, native ids, power."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.errors import RegistryError
from hub.registry.file import import_registry, load_registry_file
from hub.store.db import open_sync

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def problems(tmp_path: Path, text: str) -> str:
    path = tmp_path / "registry.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        load_registry_file(path)
    return str(info.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('profile = "shely-gen1"\nnative_id = "x"', "buttons.1: unknown profile 'shely-gen1'"),
        ('profile = "tasmota"', "needs its native_id"),
        ('native_id = "x"', "native_id needs a profile"),
        ('profile = "tasmota"\nnative_id = "a/b"', "one MQTT topic level"),
        ('power = "solar"', "buttons.1.power"),
        ('power = "battery"', "needs checkin_s"),
        ("checkin_s = 0", "buttons.1.checkin_s"),
        ('kind = "smoke"', "buttons.1.kind: unknown alarm kind 'smoke' (known: holdup, fire,"),
        ('kind = "comm_loss"', "buttons.1.kind: a press cannot raise 'comm_loss'"),
        (
            'press_patterns = { "long press" = "fire" }',
            "buttons.1.press_patterns.long press: press pattern 'long press': an event type",
        ),
        (
            'press_patterns = { long_press = "ambulance" }',
            "buttons.1.press_patterns.long_press: unknown alarm kind 'ambulance'",
        ),
        ('press_patterns = { test = "fire" }', "press pattern 'test': a test event raises no"),
    ],
)
def test_bad_entries_name_the_key(tmp_path: Path, entry: str, message: str) -> None:
    assert message in problems(tmp_path, f'[[buttons]]\nid = "b1"\n{entry}\n')


def test_one_vendor_device_is_one_button(tmp_path: Path) -> None:
    twice = '[[buttons]]\nid = "a"\nprofile = "tasmota"\nnative_id = "t"\n' * 1
    twice += '[[buttons]]\nid = "b"\nprofile = "tasmota"\nnative_id = "t"\n'
    assert "tasmota device 't' appears twice" in problems(tmp_path, twice)


def test_the_store_refuses_a_second_button_for_a_registered_device(tmp_path: Path) -> None:
    first = tmp_path / "one.toml"
    first.write_text('[[buttons]]\nid = "a"\nprofile = "tasmota"\nnative_id = "t"\n')
    second = tmp_path / "two.toml"
    second.write_text('[[buttons]]\nid = "b"\nprofile = "tasmota"\nnative_id = "t"\n')
    with contextlib.closing(open_sync(tmp_path / "hub.db")) as conn:
        import_registry(conn, load_registry_file(first), NOW)
        with pytest.raises(RegistryError, match="already registered as another button"):
            import_registry(conn, load_registry_file(second), NOW)


def test_a_battery_button_of_a_sleeping_profile_needs_no_period(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(
        '[[buttons]]\nid = "a"\nprofile = "shelly-gen1"\nnative_id = "s"\npower = "battery"\n'
    )
    assert load_registry_file(path).buttons[0].checkin_s is None
