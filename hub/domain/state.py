"""What the writer knows, kept in step with the store, and the draft of one batch.

`HubState` holds the open alarms (with their button and site indexes), the registry, the open
troubles and what was last heard from each button. Only the pipeline's writer changes it, and only
by folding in a `Draft` after the draft's changes are committed; a batch that fails to commit is
simply thrown away and planned again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeAlias

from hub.domain.model import Alarm, AlarmKind, Button, DeviceState, Site, Trouble, TroubleKind

AlarmKey: TypeAlias = tuple[str, bool, AlarmKind]
"""(button or site id, test?, kind) — test alarms and real alarms never correlate, nor alarms of
different kinds (a fire press at a site with an open hold-up raises a fire alarm of its own)."""


@dataclass(slots=True)
class Registry:
    sites: dict[str, Site] = field(default_factory=dict)
    buttons: dict[str, Button] = field(default_factory=dict)

    def site_of(self, button_id: str) -> Site | None:
        button = self.buttons.get(button_id)
        if button is None or button.site_id is None:
            return None
        return self.sites.get(button.site_id)


class HubState:
    def __init__(
        self,
        *,
        next_alarm_seq: int,
        next_trouble_id: int,
        open_alarms: Iterable[Alarm] = (),
        registry: Registry | None = None,
        troubles: Iterable[Trouble] = (),
        devices: Iterable[DeviceState] = (),
    ) -> None:
        self.next_alarm_seq = next_alarm_seq
        self.next_trouble_id = next_trouble_id
        self.listening_since: datetime | None = None
        """When the hub last connected to the broker (None while it is not): presses arriving
        soon after may have waited in the broker while it was away, and be late."""
        self.registry = registry or Registry()
        self.alarms: dict[str, Alarm] = {}
        self.by_button: dict[AlarmKey, str] = {}
        self.by_site: dict[AlarmKey, str] = {}
        self.troubles: dict[tuple[TroubleKind, str], Trouble] = {
            (t.kind, t.subject): t for t in troubles
        }
        self.devices: dict[str, DeviceState] = {d.button_id: d for d in devices}
        for alarm in open_alarms:
            self._index(alarm)

    # -- reads, the `dedup.OpenAlarms` protocol -------------------------------------------------

    def alarm_of_button(
        self, button: str, test: bool, kind: AlarmKind = AlarmKind.HOLDUP
    ) -> str | None:
        return self.by_button.get((button, test, kind))

    def alarm_of_site(
        self, site: str, test: bool, kind: AlarmKind = AlarmKind.HOLDUP
    ) -> str | None:
        return self.by_site.get((site, test, kind))

    # -- folding in a committed draft ----------------------------------------------------------

    def absorb(self, draft: Draft) -> None:
        if draft.new_registry is not None:
            self.registry = draft.new_registry
        for alarm in draft.alarms.values():
            self._unindex(alarm.id)
            if alarm.is_open:
                self._index(alarm)
        for key, trouble in draft.troubles.items():
            if trouble is None:
                self.troubles.pop(key, None)
            else:
                self.troubles[key] = trouble
        self.devices.update(draft.devices)
        self.listening_since = draft.listening_since
        self.next_alarm_seq = draft.next_alarm_seq
        self.next_trouble_id = draft.next_trouble_id

    def _index(self, alarm: Alarm) -> None:
        self.alarms[alarm.id] = alarm
        for button in alarm.buttons:
            self.by_button[(button, alarm.test, alarm.kind)] = alarm.id
        if alarm.site is not None:
            self.by_site[(alarm.site.id, alarm.test, alarm.kind)] = alarm.id

    def _unindex(self, alarm_id: str) -> None:
        old = self.alarms.pop(alarm_id, None)
        if old is None:
            return
        for button in old.buttons:
            if self.by_button.get((button, old.test, old.kind)) == alarm_id:
                del self.by_button[(button, old.test, old.kind)]
        site_key = None if old.site is None else (old.site.id, old.test, old.kind)
        if site_key is not None and self.by_site.get(site_key) == alarm_id:
            del self.by_site[site_key]


class Draft:
    """The changes one batch plans. Reads fall through to the state; nothing in it is real until
    the batch commits and `HubState.absorb` folds it in."""

    def __init__(self, state: HubState) -> None:
        self.state = state
        self.alarms: dict[str, Alarm] = {}
        self.troubles: dict[tuple[TroubleKind, str], Trouble | None] = {}
        self.devices: dict[str, DeviceState] = {}
        self.next_alarm_seq = state.next_alarm_seq
        self.next_trouble_id = state.next_trouble_id
        self.listening_since = state.listening_since
        self._by_button: dict[AlarmKey, str | None] = {}
        self._by_site: dict[AlarmKey, str | None] = {}
        self.new_registry: Registry | None = None
        """Set by a command that changes the registry (through the API)."""

    @property
    def registry(self) -> Registry:
        return self.new_registry or self.state.registry

    def put_registry(self, registry: Registry) -> None:
        self.new_registry = registry

    def alarm(self, alarm_id: str) -> Alarm | None:
        if alarm_id in self.alarms:
            return self.alarms[alarm_id]
        return self.state.alarms.get(alarm_id)

    def alarm_of_button(
        self, button: str, test: bool, kind: AlarmKind = AlarmKind.HOLDUP
    ) -> str | None:
        key = (button, test, kind)
        return self._by_button[key] if key in self._by_button else self.state.by_button.get(key)

    def alarm_of_site(
        self, site: str, test: bool, kind: AlarmKind = AlarmKind.HOLDUP
    ) -> str | None:
        key = (site, test, kind)
        return self._by_site[key] if key in self._by_site else self.state.by_site.get(key)

    def site_alarming(self, site: str) -> bool:
        """Whether the site has an open alarm of any kind, test or real."""
        return any(
            self.alarm_of_site(site, test, kind) is not None
            for test in (False, True)
            for kind in AlarmKind
        )

    def put_alarm(self, alarm: Alarm) -> None:
        self.alarms[alarm.id] = alarm
        for button in alarm.buttons:
            key = (button, alarm.test, alarm.kind)
            if alarm.is_open:
                self._by_button[key] = alarm.id
            elif self.alarm_of_button(button, alarm.test, alarm.kind) == alarm.id:
                self._by_button[key] = None
        if alarm.site is not None:
            key = (alarm.site.id, alarm.test, alarm.kind)
            if alarm.is_open:
                self._by_site[key] = alarm.id
            elif self.alarm_of_site(alarm.site.id, alarm.test, alarm.kind) == alarm.id:
                self._by_site[key] = None

    def take_alarm_seq(self) -> int:
        seq = self.next_alarm_seq
        self.next_alarm_seq += 1
        return seq

    def take_trouble_id(self) -> int:
        trouble_id = self.next_trouble_id
        self.next_trouble_id += 1
        return trouble_id

    def trouble(self, kind: TroubleKind, subject: str) -> Trouble | None:
        key = (kind, subject)
        if key in self.troubles:
            return self.troubles[key]
        return self.state.troubles.get(key)

    def put_trouble(self, trouble: Trouble) -> None:
        key = (trouble.kind, trouble.subject)
        self.troubles[key] = trouble if trouble.state == "open" else None

    def device(self, button_id: str) -> DeviceState | None:
        return self.devices.get(button_id) or self.state.devices.get(button_id)

    def put_device(self, device: DeviceState) -> None:
        self.devices[device.button_id] = device
