"""Unit tests of hub/supervision/policy.py: how each button is watched."""

from __future__ import annotations

import pytest

from devices.profiles import Power
from hub.config import SupervisionSection
from hub.domain.model import Button
from hub.supervision.policy import limits, liveness

CONFIG = SupervisionSection(offline_after_s=90, checkin_grace=0.2)


@pytest.mark.parametrize(
    ("button", "power", "silence", "sleeps"),
    [
        (Button("b", "s"), Power.MAINS, 90, False),  # the contract: heartbeats within 90 s
        (Button("b", "s", profile="tasmota", native_id="t"), Power.MAINS, 360, False),
        (Button("b", "s", checkin_s=5), Power.MAINS, 6, False),
        (Button("b", "s", profile="esphome", native_id="e"), Power.MAINS, None, False),
        (Button("b", "s", profile="shelly-gen2", native_id="p"), Power.MAINS, None, False),
        (Button("b", "s", profile="shelly-gen1", native_id="x"), Power.BATTERY, 51840, True),
        (Button("b", "s", profile="zigbee2mqtt", native_id="z"), Power.BATTERY, 108000, False),
        # The registry entry overrides the profile's habits.
        (Button("b", "s", power="battery", checkin_s=600), Power.BATTERY, 720, True),
        (
            Button("b", "s", profile="shelly-gen1", native_id="x", power="mains"),
            Power.MAINS,
            51840,
            False,
        ),
        (
            Button("b", "s", profile="shelly-gen1", native_id="x", checkin_s=3600),
            Power.BATTERY,
            4320,
            True,
        ),
    ],
)
def test_liveness_by_profile_and_entry(
    button: Button, power: Power, silence: float | None, sleeps: bool
) -> None:
    found = liveness(button, CONFIG)
    assert found.power is power
    assert found.silence_s == (None if silence is None else pytest.approx(silence))
    assert found.sleeps is sleeps


def test_the_contracts_heartbeat_bound_follows_the_config() -> None:
    assert liveness(Button("b", "s"), SupervisionSection(offline_after_s=5)).silence_s == 5


def test_limits_come_from_the_config() -> None:
    found = limits(
        SupervisionSection(flap_grace_s=3, low_battery_percent=15, battery_ok_percent=40)
    )
    assert (found.flap_grace_s, found.low_battery, found.battery_ok) == (3, 15, 40)
