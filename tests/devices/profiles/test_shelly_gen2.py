"""Shelly gen2+ (Plus i4): RPC notifications, fixture payloads from the vendor's API documentation
(shelly-api-docs.shelly.cloud, gen2 Notifications)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from devices.messages import EventType, WireError
from devices.profiles.base import VendorCheckin, VendorPress, VendorStatus
from devices.profiles.shelly_gen2 import ShellyGen2
from tests.devices.profiles.conftest import NOW, NOW_MS, translate

PREFIX = "shellyplusi4-a8032ab12345"
RPC = f"{PREFIX}/events/rpc"


def notify(event: str, ts: float, component: str = "input:0") -> str:
    return json.dumps(
        {
            "src": PREFIX,
            "dst": f"{PREFIX}/events",
            "method": "NotifyEvent",
            "params": {
                "ts": ts,
                "events": [
                    {"component": component, "id": int(component[-1]), "event": event, "ts": ts}
                ],
            },
        }
    )


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ("single_push", EventType.PRESS),
        ("double_push", EventType.DOUBLE_PRESS),
        ("triple_push", EventType.PRESS),
        ("long_push", EventType.LONG_PRESS),
    ],
)
def test_pushes_are_presses_identified_by_the_device_time(event: str, kind: EventType) -> None:
    """A push with the device's clock set: the device time is the press's `ts` and its id, so
    the same notification delivered again has the same id (a duplicate for the hub)."""
    ts = NOW.timestamp() - 1.25
    [found] = translate(ShellyGen2(), RPC, notify(event, ts))
    assert isinstance(found, VendorPress)
    assert found.event.type is kind
    assert found.event.ts == datetime.fromtimestamp(ts, UTC)
    assert found.event.id == f"s2-input:0-{event}-{ts:.3f}"
    assert translate(ShellyGen2(), RPC, notify(event, ts)) == [found]


def test_without_a_set_clock_the_receive_time_identifies_the_press() -> None:
    """The vendor's own example (ts 1678882095, March 2023) is far from the hub's time: it is
    kept as the device time (a clock_skew trouble will say so) but not trusted as an id."""
    [found] = translate(ShellyGen2(), RPC, notify("single_push", 1678882095.02))
    assert isinstance(found, VendorPress)
    assert found.event.id == f"s2-input:0-single_push-{NOW_MS}-0"
    assert found.event.ts == datetime.fromtimestamp(1678882095.02, UTC)


def test_button_down_and_up_and_other_components_are_signs_of_life() -> None:
    """The vendor's example `btn_up` on input:2, a `config_changed`, a switch's event."""
    assert translate(ShellyGen2(), RPC, notify("btn_up", 1678882095.02, "input:2")) == [
        VendorCheckin()
    ]
    assert translate(ShellyGen2(), RPC, notify("btn_down", 1678882095.02)) == [VendorCheckin()]
    assert translate(ShellyGen2(), RPC, notify("single_push", 1678882095.02, "switch:0")) == [
        VendorCheckin()
    ]


def test_notify_status_with_battery_is_a_check_in() -> None:
    body = {
        "src": PREFIX,
        "method": "NotifyStatus",
        "params": {"ts": 1678882095.02, "devicepower:0": {"battery": {"V": 3.82, "percent": 79}}},
    }
    [found] = translate(ShellyGen2(), RPC, json.dumps(body))
    assert isinstance(found, VendorCheckin)
    assert found.beat.battery == 79


def test_devicepower_and_online() -> None:
    profile = ShellyGen2()
    power = '{"id":0,"battery":{"V":3.82,"percent":79},"external":{"present":false}}'
    [found] = translate(profile, f"{PREFIX}/status/devicepower:0", power)
    assert isinstance(found, VendorCheckin)
    assert found.beat.battery == 79
    assert translate(profile, f"{PREFIX}/online", "false") == [VendorStatus(False)]
    assert translate(profile, f"{PREFIX}/online", "true") == [VendorStatus(True)]


@pytest.mark.parametrize(
    "body",
    [
        {"method": "NotifyEvent", "params": {"events": "single_push"}},
        {"method": "NotifyEvent", "params": {"events": ["single_push"]}},
    ],
)
def test_malformed_notifications_are_rejected(body: dict[str, object]) -> None:
    with pytest.raises(WireError) as info:
        translate(ShellyGen2(), RPC, json.dumps(body))
    assert info.value.reason == "invalid_field"
