"""How each registered button is watched: its profile's habits, its registry entry, the config.

A button is offline when it has been silent for longer than

- `checkin_s * (1 + checkin_grace)`, when its registry entry or its profile has a check-in period
  (a battery button's wake period, Tasmota's telemetry period);
- `offline_after_s` (90 s) for a mains button of the contract itself, whose heartbeats are due
  at least every 60 s;
- never, for a mains device that sends nothing periodic (ESPHome, Shelly gen2): its last will
  alone tells that it is gone.

An `offline` status is a fault after the flap grace, except from a battery button whose profile's
devices publish it as they fall asleep: that one is a check-in.
"""

from __future__ import annotations

from devices.profiles import Power, supervised_by
from hub.config import SupervisionSection
from hub.domain.model import Button
from hub.supervision.decide import Limits, Liveness


def limits(config: SupervisionSection) -> Limits:
    return Limits(
        flap_grace_s=config.flap_grace_s,
        unheard_s=config.offline_after_s,
        low_battery=config.low_battery_percent,
        battery_ok=config.battery_ok_percent,
    )


def liveness(button: Button, config: SupervisionSection) -> Liveness:
    usual = supervised_by(button.profile)
    power = Power(button.power) if button.power else usual.power
    checkin = button.checkin_s or usual.checkin_s
    silence: float | None
    if checkin is not None:
        silence = checkin * (1 + config.checkin_grace)
    elif button.profile is None or power is Power.BATTERY:
        # The contract's heartbeats (a battery button must name its period: the registry
        # checks it, and this bound only stands in should an old entry lack one).
        silence = config.offline_after_s
    else:
        silence = None
    sleeps = power is Power.BATTERY and usual.sleep_will
    return Liveness(power, silence, sleeps=sleeps)
