"""Tasmota buttons (`SetOption73 1`): fixture payloads from the Tasmota documentation and
changelog, and Home Assistant's Tasmota device-trigger tests."""

from __future__ import annotations

import pytest

from devices.messages import EventType, WireError
from devices.profiles.base import VendorCheckin, VendorPress, VendorStatus
from devices.profiles.tasmota import Tasmota
from tests.devices.profiles.conftest import NOW_MS, translate

TOPIC = "tasmota_49A3BC"


@pytest.mark.parametrize(
    ("payload", "button", "kind"),
    [
        ('{"Button1":{"Action":"SINGLE"}}', 1, EventType.PRESS),
        ('{"Button3":{"Action":"SINGLE"}}', 3, EventType.PRESS),
        ('{"Button1":{"Action":"DOUBLE"}}', 1, EventType.DOUBLE_PRESS),
        ('{"Button1":{"Action":"TRIPLE"}}', 1, EventType.PRESS),
        ('{"Button1":{"Action":"PENTA"}}', 1, EventType.PRESS),
        ('{"Button1":{"Action":"HOLD"}}', 1, EventType.LONG_PRESS),
        ('{"ACTION":"SINGLE"}', 1, EventType.PRESS),  # before Tasmota 9.1
    ],
)
def test_button_actions_on_result_are_presses(payload: str, button: int, kind: EventType) -> None:
    [found] = translate(Tasmota(), f"stat/{TOPIC}/RESULT", payload)
    assert isinstance(found, VendorPress)
    assert found.event.type is kind
    assert found.event.id.startswith(f"ta-{button}-")
    assert found.event.id.endswith(f"-{NOW_MS}")


def test_the_older_form_on_a_button_topic_names_its_button() -> None:
    [found] = translate(Tasmota(), f"stat/{TOPIC}/BUTTON2", '{"ACTION":"DOUBLE"}')
    assert isinstance(found, VendorPress)
    assert found.event.type is EventType.DOUBLE_PRESS
    assert found.event.id == f"ta-2-DOUBLE-{NOW_MS}"


def test_command_replies_and_releases_are_signs_of_life() -> None:
    """RESULT also carries command replies; CLEAR ends a HOLD already reported; POWER is a state."""
    assert translate(Tasmota(), f"stat/{TOPIC}/RESULT", '{"POWER":"ON"}') == [VendorCheckin()]
    assert translate(Tasmota(), f"stat/{TOPIC}/RESULT", '{"Button1":{"Action":"CLEAR"}}') == [
        VendorCheckin()
    ]
    assert translate(Tasmota(), f"stat/{TOPIC}/POWER", "ON") == [VendorCheckin()]


def test_lwt_is_the_status_and_state_is_a_heartbeat() -> None:
    profile = Tasmota()
    assert translate(profile, f"tele/{TOPIC}/LWT", "Online") == [VendorStatus(True)]
    assert translate(profile, f"tele/{TOPIC}/LWT", "Offline") == [VendorStatus(False)]
    state = (
        '{"Time":"2021-01-01T00:05:00","Uptime":"0T00:05:00","UptimeSec":300,"Heap":27,'
        '"SleepMode":"Dynamic","Sleep":50,"LoadAvg":19,"MqttCount":1,"POWER":"OFF",'
        '"Wifi":{"AP":1,"SSId":"post","BSSId":"AA:BB:CC:DD:EE:FF","Channel":1,"Mode":"11n",'
        '"RSSI":100,"Signal":-48,"LinkCount":1,"Downtime":"0T00:00:03"}}'
    )
    [found] = translate(profile, f"tele/{TOPIC}/STATE", state)
    assert isinstance(found, VendorCheckin)
    assert (found.beat.rssi, found.beat.uptime_s) == (-48, 300)


def test_topics_of_tasmota() -> None:
    profile = Tasmota()
    assert profile.native_id_of(f"stat/{TOPIC}/RESULT") == TOPIC
    assert profile.native_id_of(f"tele/{TOPIC}/LWT") == TOPIC
    assert profile.native_id_of(f"tele/{TOPIC}/SENSOR") is None
    assert profile.native_id_of(f"cmnd/{TOPIC}/POWER") is None


def test_bad_payloads_are_rejected() -> None:
    with pytest.raises(WireError):
        translate(Tasmota(), f"tele/{TOPIC}/LWT", "Asleep")
    with pytest.raises(WireError):
        translate(Tasmota(), f"stat/{TOPIC}/RESULT", "SINGLE")
