"""Shelly gen1 (Button1, i3): fixture payloads from the vendor's MQTT documentation and the
integrations that read it (ioBroker.shelly, ha-shellies-discovery, gohanectl)."""

from __future__ import annotations

import pytest

from devices.messages import EventType, WireError
from devices.profiles.base import VendorCheckin, VendorPress, VendorStatus
from devices.profiles.shelly_gen1 import ShellyGen1
from tests.devices.profiles.conftest import NOW_MS, translate

DEVICE = "shellybutton1-A4CF12F45174"
EVENT_TOPIC = f"shellies/{DEVICE}/input_event/0"


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ("S", EventType.PRESS),
        ("SS", EventType.DOUBLE_PRESS),
        ("SSS", EventType.PRESS),
        ("L", EventType.LONG_PRESS),
    ],
)
def test_input_events_are_presses(event: str, kind: EventType) -> None:
    """`{"event": "S", "event_cnt": 73}` is a press of the right type; the counter becomes its
    `seq` and, with the receive time, its id."""
    [found] = translate(ShellyGen1(), EVENT_TOPIC, f'{{"event":"{event}","event_cnt":73}}')
    assert isinstance(found, VendorPress)
    assert found.event.type is kind
    assert found.event.seq == 73
    assert found.event.id == f"s1-0-73-{NOW_MS}"
    assert found.action == event
    assert found.sos is False
    assert found.event.anomalies == ()


def test_the_same_counter_again_is_not_a_new_press() -> None:
    """Shelly publishes its last event again (retained, on reconnect): the same counter is a
    sign of life; a new counter, even a lower one after a reboot, is a press."""
    profile = ShellyGen1()
    assert isinstance(
        translate(profile, EVENT_TOPIC, '{"event":"S","event_cnt":5}')[0], VendorPress
    )
    assert translate(profile, EVENT_TOPIC, '{"event":"S","event_cnt":5}') == [VendorCheckin()]
    [after_reboot] = translate(profile, EVENT_TOPIC, '{"event":"S","event_cnt":1}')
    assert isinstance(after_reboot, VendorPress)


def test_after_a_hub_restart_the_last_recorded_event_tells_a_repeat() -> None:
    """With nothing remembered (a fresh hub), the id of the last event the hub recorded from the
    device says which counter was seen last: the same one is not a press again."""
    again = translate(
        ShellyGen1(), EVENT_TOPIC, '{"event":"S","event_cnt":9}', last_event="s1-0-9-1795330000000"
    )
    assert again == [VendorCheckin()]
    other_input = translate(
        ShellyGen1(), EVENT_TOPIC, '{"event":"S","event_cnt":9}', last_event="s1-1-9-1795330000000"
    )
    assert isinstance(other_input[0], VendorPress)


def test_an_empty_event_is_a_sign_of_life() -> None:
    """`"event": ""` (an input with no event, after a boot) records nothing but a check-in."""
    assert translate(ShellyGen1(), EVENT_TOPIC, '{"event":"","event_cnt":0}') == [VendorCheckin()]


def test_an_unknown_event_is_still_a_press_with_an_anomaly() -> None:
    """A letter code the profile does not know is a press (never lose one), noted as odd."""
    [found] = translate(ShellyGen1(), EVENT_TOPIC, '{"event":"LL","event_cnt":2}')
    assert isinstance(found, VendorPress)
    assert found.event.type is EventType.PRESS
    assert "LL" in found.event.anomalies[0]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"event_cnt":1}', "invalid_field"),
        (b'{"event":"S","event_cnt":-1}', "invalid_field"),
        (b'{"event":"S","event_cnt":"7"}', "invalid_field"),
        (b"S", "invalid_json"),
        (b'{"event":"S","event_cnt":\xff}', "invalid_utf8"),
    ],
)
def test_malformed_input_events_are_rejected_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(WireError) as info:
        translate(ShellyGen1(), EVENT_TOPIC, payload)
    assert info.value.reason == reason


def test_online_is_the_status() -> None:
    profile = ShellyGen1()
    assert translate(profile, f"shellies/{DEVICE}/online", "true") == [VendorStatus(True)]
    assert translate(profile, f"shellies/{DEVICE}/online", "false") == [VendorStatus(False)]
    with pytest.raises(WireError):
        translate(profile, f"shellies/{DEVICE}/online", "maybe")


def test_battery_info_and_announce_are_check_ins_with_telemetry() -> None:
    """`sensor/battery` `97`; `info` with Wi-Fi RSSI and battery; `announce` with the firmware."""
    profile = ShellyGen1()
    [battery] = translate(profile, f"shellies/{DEVICE}/sensor/battery", "97")
    assert isinstance(battery, VendorCheckin)
    assert battery.beat.battery == 97
    info = (
        '{"wifi_sta":{"connected":true,"ssid":"post","ip":"192.168.1.5","rssi":-61},'
        '"bat":{"value":88,"voltage":4.1}}'
    )
    [found] = translate(profile, f"shellies/{DEVICE}/info", info)
    assert isinstance(found, VendorCheckin)
    assert (found.beat.rssi, found.beat.battery) == (-61, 88)
    announce = (
        '{"id":"shellybutton1-A4CF12F45174","mac":"A4CF12F45174","ip":"192.168.86.53",'
        '"new_fw":false,"fw_ver":"20200625-102446/v1.7.3@2aa0993a"}'
    )
    [found] = translate(profile, f"shellies/{DEVICE}/announce", announce)
    assert isinstance(found, VendorCheckin)
    assert found.beat.fw == "20200625-102446/v1.7.3@2aa0993a"
    with pytest.raises(WireError):
        translate(profile, f"shellies/{DEVICE}/sensor/battery", "full")


def test_topics_that_are_not_shelly_gen1() -> None:
    profile = ShellyGen1()
    assert profile.native_id_of("shellies/x/relay/0") is None
    assert profile.native_id_of("zigbee2mqtt/x") is None
    assert profile.native_id_of(f"shellies/{DEVICE}/input_event/0") == DEVICE


def test_acl_lets_the_device_write_only_its_own_topics() -> None:
    acl = ShellyGen1().device_acl(DEVICE)
    assert acl.write == (f"shellies/{DEVICE}/#", "shellies/announce")
    assert f"shellies/{DEVICE}/command" in acl.read
