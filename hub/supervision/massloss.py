"""Mass loss: several buttons going offline at once is an alarm of kind `comm_loss`.

A robber who cuts a shop's power or its Wi-Fi silences every button of the shop at once; the
officer must see one alarm at that site, escalated as a hold-up there, not a handful of
`offline` troubles. Supervision still decides, with its debounce, which buttons are offline
(`decide.py`: a last will that lasted `flap_grace_s`, or silence past the bound); this module
only looks at *when* the confirmed ones dropped:

- **a drop's time** is the last time the hub heard the button: its last will, or its last
  message before the silence. Drops heard within `settle_s` of the hub (re)connecting to the
  broker do not count, nor do silences that began before it: the broker then replays at one
  moment losses that happened while the hub was away, and a hub that heard nothing knows
  nothing of when. A restart or a broker outage is never a mass loss (the hub's own loss of
  the broker is its own trouble, `broker_disconnected`).
- **the site rule**: `site_buttons` of a site's mains buttons (default: all of them, for a site
  with two or more) dropping within `window_s` raise one alarm at that site. One of two is
  not a loss: that is its `offline` trouble.
- **the commune rule**: `commune_percent` of the commune's mains buttons (at least
  `commune_min_buttons`), at two sites or more, dropping within `window_s` raise ONE alarm at
  the pseudo-site `_commune` (listing the sites); it comes first, and while it is open the
  later drops of its window join it instead of raising a site's own.
- only mains buttons out of test mode count (a battery button cannot be known offline within
  minutes, docs/SUPERVISION.md). It is looked at only when supervision confirms a new drop,
  so a loss raises its alarm once; while a site's `comm_loss` alarm is open, no second one.

The decision is pure (`find_losses`); `apply` raises the alarms in the supervisor's plan.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from devices.profiles import Power
from hub.clock import iso
from hub.config.supervision import MassLossSection, SupervisionSection
from hub.domain import alarms
from hub.domain.model import (
    Alarm,
    AlarmChange,
    AlarmDevice,
    AlarmKind,
    AlarmState,
    SiteRef,
    TroubleKind,
)
from hub.domain.state import Draft
from hub.supervision import policy
from hub.writer.plan import Plan

COMMUNE: Final = "_commune"
"""The pseudo-site of a commune-wide loss (a registry id cannot start with `_`)."""
EVENT: Final = "comm-loss"
"""What stands for the event of a button in a `comm_loss` alarm (it pressed nothing)."""
_COMMUNE_NAME: Final = {"vi": "Toàn xã: nhiều cơ sở mất kết nối", "en": "Whole commune: sites lost"}


@dataclass(frozen=True, slots=True)
class Drop:
    button: str
    site: str
    at: datetime
    """the last time the hub heard the button"""


@dataclass(frozen=True, slots=True)
class Loss:
    site: str | None
    """None: the commune rule"""
    drops: tuple[Drop, ...]
    of: int
    """how many mains buttons the rule counted from (the site's, or the commune's)"""

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(drop.site for drop in self.drops))


def site_threshold(mains: int, configured: int | None) -> int | None:
    """How many of a site's `mains` buttons must drop; None: a site of one cannot lose many."""
    if mains < 2:
        return None
    return mains if configured is None else max(2, min(configured, mains))


def commune_threshold(mains: int, config: MassLossSection) -> int | None:
    if config.commune_percent is None:
        return None
    return max(config.commune_min_buttons, math.ceil(mains * config.commune_percent / 100))


def largest_window(
    drops: Sequence[Drop],
    fresh: Collection[Drop],
    window: timedelta,
    needed: int,
    min_sites: int = 1,
) -> list[Drop] | None:
    """The largest group of `drops` within one window of `window` that holds at least one of
    `fresh`, `needed` drops or more and drops of `min_sites` sites or more; None if there is none.

    One pass over the drops in time order (a sliding window: each drop enters and leaves once),
    so that a commune-wide outage of hundreds of buttons, the very case this is for, is decided
    in milliseconds on the writer and does not hold the presses queued behind it.
    """
    ordered = sorted(drops, key=lambda drop: drop.at)
    best: list[Drop] | None = None
    sites: Counter[str] = Counter()
    fresh_inside = 0
    end = 0
    for start, first in enumerate(ordered):
        while end < len(ordered) and ordered[end].at - first.at <= window:
            sites[ordered[end].site] += 1
            fresh_inside += ordered[end] in fresh
            end += 1
        size = end - start
        if (
            fresh_inside
            and size >= needed
            and len(sites) >= min_sites
            and (best is None or size > len(best))
        ):
            best = ordered[start:end]
        sites[first.site] -= 1
        if not sites[first.site]:
            del sites[first.site]
        fresh_inside -= first in fresh
    return best


def find_losses(
    fresh: Iterable[Drop],
    drops: Sequence[Drop],
    mains: dict[str, int],
    config: MassLossSection,
) -> list[Loss]:
    """The losses that the newly confirmed drops (`fresh`) complete, among every counted drop
    (`drops`, `fresh` included) and the number of counted mains buttons of each site (`mains`).
    The commune rule first: when it holds, it is the only loss."""
    window = timedelta(seconds=config.window_s)
    fresh = sorted(fresh, key=lambda drop: drop.at)
    new = set(fresh)
    commune = commune_threshold(sum(mains.values()), config)
    if commune is not None:
        group = largest_window(drops, new, window, commune, min_sites=2)
        if group is not None:
            return [Loss(None, tuple(group), sum(mains.values()))]
    losses = []
    for site in dict.fromkeys(drop.site for drop in fresh):
        needed = site_threshold(mains.get(site, 0), config.site_buttons)
        if needed is None:
            continue
        own = [drop for drop in drops if drop.site == site]
        group = largest_window(own, new, window, needed)
        if group is not None:
            losses.append(Loss(site, tuple(group), mains[site]))
    return losses


def counted(
    draft: Draft, config: SupervisionSection, listening_since: datetime
) -> tuple[list[Drop], dict[str, int]]:
    """The drops that count (confirmed offline, heard after the hub settled) and the number of
    counted mains buttons of each site."""
    registry = draft.registry
    settled = listening_since + timedelta(seconds=config.mass_loss.settle_s)
    drops: list[Drop] = []
    mains: dict[str, int] = {}
    for button in registry.buttons.values():
        site = registry.sites.get(button.site_id or "")
        if site is None or site.test_mode or button.test_mode:
            continue
        if policy.liveness(button, config).power is not Power.MAINS:
            continue
        mains[site.id] = mains.get(site.id, 0) + 1
        device = draft.device(button.id)
        if device is None or draft.trouble(TroubleKind.OFFLINE, button.id) is None:
            continue
        if device.last_seen >= settled:
            drops.append(Drop(button.id, site.id, device.last_seen))
    return drops, mains


def apply(
    plan: Plan,
    newly_offline: Sequence[str],
    config: SupervisionSection,
    listening_since: datetime,
    language: str,
) -> list[Alarm]:
    """Raise (or join) the `comm_loss` alarms that the buttons confirmed offline in this plan
    complete; return the alarms raised or changed."""
    if not config.mass_loss.enabled or not newly_offline:
        return []
    draft = plan.draft
    drops, mains = counted(draft, config, listening_since)
    fresh = [drop for drop in drops if drop.button in set(newly_offline)]
    if not fresh:
        return []
    window = timedelta(seconds=config.mass_loss.window_s)
    commune_id = draft.alarm_of_site(COMMUNE, False, AlarmKind.COMM_LOSS)
    commune = draft.alarm(commune_id) if commune_id else None
    changed = []
    for loss in find_losses(fresh, drops, mains, config.mass_loss):
        if commune is not None and loss.drops[0].at >= commune.raised_at - window:
            changed.append(_join(plan, commune, loss))
            continue
        site_id = COMMUNE if loss.site is None else loss.site
        if draft.alarm_of_site(site_id, False, AlarmKind.COMM_LOSS) is not None:
            continue  # that loss has its alarm already
        changed.append(_raise(plan, loss, config.mass_loss, language))
    return changed


def _describe(loss: Loss, config: MassLossSection) -> str:
    span = (loss.drops[-1].at - loss.drops[0].at).total_seconds()
    where = "the commune" if loss.site is None else f"site {loss.site}"
    return (
        f"{len(loss.drops)} of the {loss.of} mains buttons of {where} offline within "
        f"{span:.0f} s (window {config.window_s:.0f} s)"
    )


def _join(plan: Plan, alarm: Alarm, loss: Loss) -> Alarm:
    """Later drops of an open commune loss's window join it (no alarm of their own)."""
    new = [drop for drop in loss.drops if drop.button not in alarm.buttons]
    if not new:
        return alarm
    joined = replace(
        alarm,
        devices=(*alarm.devices, *(AlarmDevice(drop.button, EVENT) for drop in new)),
        updated_at=plan.now,
    )
    plan.save_alarm(
        joined,
        AlarmChange.JOINED,
        "hub",
        buttons=[drop.button for drop in new],
        dropped_at=[iso(drop.at) for drop in new],
    )
    return joined


def _raise(plan: Plan, loss: Loss, config: MassLossSection, language: str) -> Alarm:
    draft = plan.draft
    if loss.site is None:
        names = [draft.registry.sites[s].name for s in loss.sites if s in draft.registry.sites]
        name = _COMMUNE_NAME.get(language, _COMMUNE_NAME["vi"])
        site = SiteRef(COMMUNE, name, "; ".join(names), "")
    else:
        known = draft.registry.sites[loss.site]
        site = SiteRef(known.id, known.name, known.address, known.phone)
    now = plan.now
    seq = draft.take_alarm_seq()
    alarm = Alarm(
        id=alarms.alarm_id(plan.hub_id, seq),
        seq=seq,
        state=AlarmState.ACTIVE,
        level=0,
        site=site,
        devices=tuple(AlarmDevice(drop.button, EVENT) for drop in loss.drops),
        press_count=0,
        test=False,
        unregistered=False,
        raised_at=now,
        last_press_at=now,
        updated_at=now,
        kind=AlarmKind.COMM_LOSS,
    )
    plan.save_alarm(
        alarm,
        AlarmChange.RAISED,
        "hub",
        kind=AlarmKind.COMM_LOSS.value,
        rule="commune" if loss.site is None else "site",
        buttons=[drop.button for drop in loss.drops],
        dropped_at=[iso(drop.at) for drop in loss.drops],
        sites=list(loss.sites),
        reason=_describe(loss, config),
    )
    return alarm
