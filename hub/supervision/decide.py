"""Is this button alive, and which troubles does it deserve? Pure: (state, now) in, actions out.

One button's liveness, from what the hub last heard of it (`DeviceState`) and how it is watched
(`Liveness`):

- **never heard from**: unknown (`online` stays null) until the hub has listened for longer than
  the button may stay silent, then offline ("never heard from");
- **it said it is offline** (its last will, or a clean goodbye) and nothing came since: offline
  once that has lasted `flap_grace_s` (shorter drops are flapping and raise nothing); meanwhile
  its trouble, if any, stays as it is;
- **silent** for longer than its bound (a mains button's heartbeats, a battery button's check-in
  period plus grace): offline;
- otherwise online. Any message counts, and a return clears the trouble at once.

Silence is counted from the later of the last message and the moment the hub started listening
(`listening_since`): a hub that was stopped, or cut off from the broker, heard nothing, and that
says nothing about the buttons.

Battery: at or below `low_battery` a trouble, cleared only at `battery_ok` or more (a new
battery), so a reading that wavers around the threshold does not flap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from devices.profiles import Power
from hub.domain.model import DeviceState, TroubleKind
from hub.domain.state import Registry

OFFLINE: Final = TroubleKind.OFFLINE
LOW_BATTERY: Final = TroubleKind.LOW_BATTERY
CLOCK_SKEW: Final = TroubleKind.CLOCK_SKEW
BUTTON_TROUBLES: Final = (OFFLINE, LOW_BATTERY, CLOCK_SKEW)
"""The troubles supervision keeps about a registered button (cleared when it is removed)."""
TEST_MODE: Final = TroubleKind.TEST_MODE
SITE_TEST_MODE: Final = TroubleKind.SITE_TEST_MODE


@dataclass(frozen=True, slots=True)
class Liveness:
    """How one button is watched."""

    power: Power
    silence_s: float | None
    """Longest silence of a healthy button; None: only its last will tells (LWT-only devices)."""
    sleeps: bool
    """Its `offline` is the last will firing as it goes to sleep, not a fault (a battery button
    that sleeps between presses): ingest takes such an `offline` as a check-in."""


@dataclass(frozen=True, slots=True)
class Limits:
    flap_grace_s: float
    unheard_s: float
    """How long a registered button with no silence bound may stay unheard of."""
    low_battery: int
    battery_ok: int


class State(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    PENDING = "pending"
    """It said offline, less than the flap grace ago: wait before deciding."""
    UNHEARD = "unheard"
    """Never heard from, and not yet for long."""


@dataclass(frozen=True, slots=True)
class Finding:
    state: State
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SetOnline:
    online: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Raise:
    kind: TroubleKind
    detail: str


@dataclass(frozen=True, slots=True)
class Clear:
    kind: TroubleKind
    detail: str


Action = SetOnline | Raise | Clear


def _span(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def liveness_of(
    liveness: Liveness,
    device: DeviceState | None,
    limits: Limits,
    listening_since: datetime,
    now: datetime,
) -> Finding:
    bound = liveness.silence_s if liveness.silence_s is not None else limits.unheard_s
    if device is None:
        listened = (now - listening_since).total_seconds()
        if listened > bound:
            return Finding(State.OFFLINE, f"never heard from ({_span(listened)} listening)")
        return Finding(State.UNHEARD)
    said_offline = device.online is False and (
        device.online_since is None or device.last_seen <= device.online_since
    )
    if said_offline:
        since = device.online_since or device.last_seen
        if now - since >= timedelta(seconds=limits.flap_grace_s):
            return Finding(State.OFFLINE, f"offline since {since:%Y-%m-%d %H:%M:%S} UTC")
        return Finding(State.PENDING)
    if liveness.silence_s is not None:
        quiet = (now - max(device.last_seen, listening_since)).total_seconds()
        if quiet > liveness.silence_s:
            expected = "check-in" if liveness.power is Power.BATTERY else "message"
            return Finding(
                State.OFFLINE,
                f"silent for {_span(quiet)} (a {expected} is due within "
                f"{_span(liveness.silence_s)})",
            )
    return Finding(State.ONLINE)


def battery_low(battery: int | None, limits: Limits) -> bool | None:
    """True: low; False: fine; None: between the two thresholds, or unknown (leave it)."""
    if battery is None:
        return None
    if battery <= limits.low_battery:
        return True
    if battery >= limits.battery_ok:
        return False
    return None


def review(
    liveness: Liveness,
    device: DeviceState | None,
    open_troubles: frozenset[TroubleKind],
    limits: Limits,
    listening_since: datetime,
    now: datetime,
) -> list[Action]:
    """What must change for one registered button: its `online`, its offline and battery
    troubles. An empty list when everything is as it should be."""
    actions: list[Action] = []
    finding = liveness_of(liveness, device, limits, listening_since, now)
    if finding.state is State.OFFLINE:
        if device is not None and device.online is not False:
            actions.append(SetOnline(False, finding.reason))
        if OFFLINE not in open_troubles:
            actions.append(Raise(OFFLINE, finding.reason))
    elif finding.state is State.ONLINE:
        if device is not None and device.online is not True:
            actions.append(SetOnline(True, "heard from"))
        if OFFLINE in open_troubles:
            actions.append(Clear(OFFLINE, "heard from again"))
    battery = device.battery if device else None
    low = battery_low(battery, limits)
    if low is True and LOW_BATTERY not in open_troubles:
        detail = f"battery {battery}% (threshold {limits.low_battery}%)"
        actions.append(Raise(LOW_BATTERY, detail))
    elif low is False and LOW_BATTERY in open_troubles:
        actions.append(Clear(LOW_BATTERY, f"battery {battery}%"))
    return actions


def clock_skew(
    device_time: datetime, received_at: datetime, ahead_s: float, behind_s: float
) -> float | None:
    """The device clock's offset in seconds when it is outside the window (SIA DC-09: +20 s /
    -40 s), else None. Positive: the device is ahead of the hub."""
    offset = (device_time - received_at).total_seconds()
    if offset > ahead_s or offset < -behind_s:
        return offset
    return None


def test_modes(registry: Registry) -> dict[tuple[TroubleKind, str], tuple[str | None, str]]:
    """The troubles test mode calls for: (kind, subject) -> (site id, detail). A button in test
    mode no longer raises real alarms: nobody must forget it there."""
    wanted: dict[tuple[TroubleKind, str], tuple[str | None, str]] = {}
    for button in registry.buttons.values():
        if button.test_mode:
            wanted[(TEST_MODE, button.id)] = (
                button.site_id,
                "in test mode: its presses are recorded as tests and never escalate",
            )
    for site in registry.sites.values():
        if site.test_mode:
            wanted[(SITE_TEST_MODE, site.id)] = (
                site.id,
                "site in test mode: its buttons' presses are recorded as tests and never escalate",
            )
    return wanted
