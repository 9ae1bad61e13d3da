"""Zigbee buttons through Zigbee2MQTT: fixtures from zigbee2mqtt.io (MQTT topics and messages,
device availability, device pages of the Aqara WXKG11LM, TuYa TS0215A_sos, Feibit SEB01ZB)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devices.messages import EventType, Heartbeat, WireError
from devices.profiles.base import VendorCheckin, VendorPress, VendorStatus
from devices.profiles.zigbee2mqtt import Zigbee2Mqtt
from tests.devices.profiles.conftest import NOW, NOW_MS, translate


@pytest.mark.parametrize(
    ("action", "kind", "sos"),
    [
        ("single", EventType.PRESS, False),
        ("double", EventType.DOUBLE_PRESS, False),
        ("triple", EventType.PRESS, False),
        ("hold", EventType.LONG_PRESS, False),
        ("emergency", EventType.PRESS, True),
    ],
)
def test_actions_are_presses_and_emergency_is_an_sos(
    action: str, kind: EventType, sos: bool
) -> None:
    """`{"action":"single","battery":97,"voltage":3000,"linkquality":120}` (Aqara WXKG11LM) and
    `"action":"emergency"` (TuYa TS0215A_sos): presses carrying the battery reading."""
    payload = f'{{"action":"{action}","battery":97,"voltage":3000,"linkquality":120}}'
    [found] = translate(Zigbee2Mqtt(), "zigbee2mqtt/quay-1", payload)
    assert isinstance(found, VendorPress)
    assert (found.event.type, found.sos, found.event.battery) == (kind, sos, 97)
    assert found.event.id == f"z2m-{action}-{NOW_MS}"


def test_release_and_the_empty_legacy_action_are_check_ins() -> None:
    """`release` ends a `hold`; the legacy action sensor sends `""` after every action."""
    profile = Zigbee2Mqtt()
    [release] = translate(profile, "zigbee2mqtt/quay-1", '{"action":"release","battery":96}')
    assert isinstance(release, VendorCheckin)
    assert release.beat.battery == 96
    assert translate(profile, "zigbee2mqtt/quay-1", '{"action":"","battery":96}') == [
        VendorCheckin(release.beat)
    ]


def test_sos_and_tamper_flags_count_on_their_change_to_true() -> None:
    """Feibit SEB01ZB: `"sos": true` is an SOS press, `"tamper": true` a tamper event; the flags
    stay true in the device's later reports, which are then only check-ins."""
    profile = Zigbee2Mqtt()
    topic = "zigbee2mqtt/sos-kitchen"
    first = translate(
        profile, topic, '{"sos":true,"tamper":false,"battery_low":false,"battery":90}'
    )
    assert len(first) == 1
    assert isinstance(first[0], VendorPress)
    assert (first[0].event.type, first[0].sos) == (EventType.PRESS, True)
    still = translate(profile, topic, '{"sos":true,"tamper":false,"battery":90}')
    assert still == [VendorCheckin(Heartbeat(battery=90))]
    [tamper] = translate(profile, topic, '{"sos":false,"tamper":true,"battery":90}')
    assert isinstance(tamper, VendorPress)
    assert tamper.event.type is EventType.TAMPER
    assert tamper.sos is False
    assert isinstance(translate(profile, topic, '{"sos":true,"tamper":true}')[0], VendorPress)


def test_last_seen_identifies_the_press_and_is_its_time() -> None:
    """With `advanced.last_seen` the bridge stamps each report: a redelivery has the same id."""
    payload = '{"action":"single","battery":97,"last_seen":"2026-11-22T07:59:58.250Z"}'
    [found] = translate(Zigbee2Mqtt(), "zigbee2mqtt/quay-1", payload)
    assert isinstance(found, VendorPress)
    assert found.event.ts == datetime(2026, 11, 22, 7, 59, 58, 250000, tzinfo=UTC)
    assert found.event.id == f"z2m-single-{found.event.ts.timestamp():.3f}"
    again = translate(Zigbee2Mqtt(), "zigbee2mqtt/quay-1", payload, at=NOW)
    assert again == [found]


def test_an_unknown_action_of_a_registered_button_is_a_press_with_an_anomaly() -> None:
    [found] = translate(Zigbee2Mqtt(), "zigbee2mqtt/remote", '{"action":"brightness_move_up"}')
    assert isinstance(found, VendorPress)
    assert found.sos is False
    assert found.event.anomalies
    assert translate(Zigbee2Mqtt(), "zigbee2mqtt/remote", '{"action":"brightness_stop"}') == [
        VendorCheckin()
    ]


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        ('{"state":"online"}', True),
        ('{"state":"offline"}', False),
        ("online", True),
        ("offline", False),
    ],
)
def test_availability_in_both_forms(payload: str, online: bool) -> None:
    """Zigbee2MQTT 2.0 sends JSON, 1.x plain text; the bridge's own state likewise."""
    profile = Zigbee2Mqtt()
    assert translate(profile, "zigbee2mqtt/quay-1/availability", payload) == [VendorStatus(online)]
    assert translate(profile, "zigbee2mqtt/bridge/state", payload) == [VendorStatus(online)]
    assert profile.native_id_of("zigbee2mqtt/bridge/state") == "bridge"


def test_topics_of_zigbee2mqtt_with_another_base() -> None:
    profile = Zigbee2Mqtt("z2m/post")
    assert profile.native_id_of("z2m/post/quay-1") == "quay-1"
    assert profile.native_id_of("zigbee2mqtt/quay-1") is None
    assert profile.native_id_of("z2m/post/quay-1/set") is None
    assert profile.native_id_of("z2m/post/bridge/info") is None
    assert profile.native_id_of("z2m/post/quay-1/state") is None
    assert ("z2m/post/+", 1) in profile.subscriptions()


def test_bad_payloads_are_rejected() -> None:
    with pytest.raises(WireError):
        translate(Zigbee2Mqtt(), "zigbee2mqtt/quay-1", "single")
    with pytest.raises(WireError):
        translate(Zigbee2Mqtt(), "zigbee2mqtt/quay-1/availability", '{"state":"sleeping"}')


def test_the_bridge_is_the_only_mqtt_user() -> None:
    profile = Zigbee2Mqtt()
    assert profile.device_acl("quay-1").write == ()
    assert profile.bridge_acls()["zigbee2mqtt"].write == ("zigbee2mqtt/#",)
