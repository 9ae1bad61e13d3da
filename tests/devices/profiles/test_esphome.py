"""ESPHome's own MQTT topics: fixtures from ESPHome's MQTT documentation and its `event`
component (esphome/components/mqtt/mqtt_event.cpp publishes `{"event_type": …}`)."""

from __future__ import annotations

import pytest

from devices.messages import EventType, WireError
from devices.profiles.base import VendorCheckin, VendorPress, VendorStatus
from devices.profiles.esphome import Esphome
from tests.devices.profiles.conftest import translate

NODE = "quay-thuoc"


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("single", EventType.PRESS),
        ("press", EventType.PRESS),
        ("double_click", EventType.DOUBLE_PRESS),
        ("long_press", EventType.LONG_PRESS),
        ("hold", EventType.LONG_PRESS),
    ],
)
def test_events_are_presses(event_type: str, kind: EventType) -> None:
    [found] = translate(Esphome(), f"{NODE}/event/panic/state", f'{{"event_type":"{event_type}"}}')
    assert isinstance(found, VendorPress)
    assert found.event.type is kind


def test_a_release_event_is_a_sign_of_life() -> None:
    found = translate(Esphome(), f"{NODE}/event/panic/state", '{"event_type":"release"}')
    assert found == [VendorCheckin()]


def test_a_binary_sensor_press_is_its_off_to_on_edge() -> None:
    """ON is a press; OFF is not; ON again after ON (republished on reconnect) is not."""
    profile = Esphome()
    topic = f"{NODE}/binary_sensor/panic/state"
    assert isinstance(translate(profile, topic, "ON")[0], VendorPress)
    assert translate(profile, topic, "ON") == [VendorCheckin()]
    assert translate(profile, topic, "OFF") == [VendorCheckin()]
    assert isinstance(translate(profile, topic, "ON")[0], VendorPress)


def test_status_and_battery_sensor() -> None:
    profile = Esphome()
    assert translate(profile, f"{NODE}/status", "online") == [VendorStatus(True)]
    assert translate(profile, f"{NODE}/status", "offline") == [VendorStatus(False)]
    [battery] = translate(profile, f"{NODE}/sensor/battery_level/state", "87.4")
    assert isinstance(battery, VendorCheckin)
    assert battery.beat.battery == 87
    [other] = translate(profile, f"{NODE}/sensor/wifi_signal/state", "-61")
    assert other == VendorCheckin()


def test_bad_payloads_are_rejected() -> None:
    with pytest.raises(WireError):
        translate(Esphome(), f"{NODE}/binary_sensor/panic/state", "PRESSED")
    with pytest.raises(WireError):
        translate(Esphome(), f"{NODE}/event/panic/state", '{"type":"single"}')


def test_topics_of_esphome() -> None:
    profile = Esphome()
    assert profile.native_id_of(f"{NODE}/status") == NODE
    assert profile.native_id_of(f"{NODE}/switch/relay/state") is None
    assert profile.native_id_of(f"a/{NODE}/status") is None
