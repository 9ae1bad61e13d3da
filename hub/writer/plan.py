"""Planning one batch: what each message and command changes, before anything is written.

The planner turns a batch of inbound messages and commands into `Changes` (rows to commit), a
`Draft` of the new in-memory state, and the bus events to publish once the rows are durable. It
does no I/O: the only thing it needs from the store, which earlier (button, event id) pairs exist,
is looked up before planning and passed in.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from devices.messages import EventType
from devices.signing import key_id
from hub.clock import iso
from hub.domain import alarms
from hub.domain.authenticity import FORGERY_TROUBLE, refusal_of
from hub.domain.bus import AlarmChanged, ButtonAck, DeviceChanged, Event, TroubleChanged
from hub.domain.dedup import EarlierEvent, PressFacts, Verdict, correlate
from hub.domain.inbound import HeartbeatIn, IgnoredIn, Inbound, PressIn, RejectedIn, StatusIn
from hub.domain.kinds import Patterns, kind_of_press
from hub.domain.model import (
    ACK_STATE,
    Alarm,
    AlarmChange,
    AlarmKind,
    AlarmState,
    DeviceState,
    Site,
    Trouble,
    TroubleKind,
    TroubleState,
)
from hub.domain.state import Draft, HubState
from hub.store.changes import Changes
from hub.store.ops import Op, PressRow


class Count(StrEnum):
    """What a plan counts for the metrics (`Pipeline._count` turns every one into a metric)."""

    PRESS = "press"
    """label: the event type (of those that raise alarms)"""
    EVENT = "event"
    """label: the event type (of the others: a tamper, a cancel)"""
    DUPLICATE = "duplicate"
    RAISED = "raised"
    """label: `true` for a test alarm, else `false`"""
    REJECTED = "rejected"
    """label: the reason"""
    IGNORED = "ignored"
    """label: the reason (a vendor message that carried nothing to record, a retained one)"""
    UNTRACKED = "untracked"


CountKey = tuple[Count, str]
"""A count and its label ("" when it has none)."""

MAX_UNREGISTERED_DEVICES = 10_000
"""Buttons the registry does not know are tracked (last seen, battery) up to this many. Their
presses always raise alarms, tracked or not."""

AlarmHook = Callable[["Plan", Alarm | None, Alarm, AlarmChange], None]
"""Called for every alarm change inside the plan (old, new, change); adds rows of its own, such as
the escalation deadline, so that they commit together with the change."""

TroubleHook = Callable[["Plan", Trouble], None]
"""Called for every trouble raised or cleared inside the plan, like `AlarmHook`."""

PressHook = Callable[["Plan", PressIn], None]
"""Called for every new (not duplicate) event inside the plan, after it is recorded: checks of
the event itself (the device's clock) that raise or clear troubles with it."""


class Command(ABC):
    """A change asked for by the API, a timer or another part; planned in order with messages."""

    upkeep: ClassVar[bool] = False
    """Periodic upkeep that nothing waits for (the supervisor's commands): the pipeline commits
    it in a batch of its own, and lets what is queued behind it go first (see
    `hub/writer/pipeline.py`), so that no press shares its plan and its commit with it."""

    @abstractmethod
    def plan(self, plan: Plan) -> object:
        """Validate first, then change the plan; raise a `ChuongError` to refuse."""

    def heard_from(self) -> Sequence[str]:
        """Buttons whose latest news the command decides on: the pipeline commits their held
        heartbeats (see `hub/writer/pipeline.py`) just ahead of it."""
        return ()


def button_actor(button: str) -> str:
    return f"button:{button}"


class Plan:
    def __init__(
        self,
        *,
        hub_id: str,
        state: HubState,
        now: datetime,
        earlier: Mapping[tuple[str, str], str | None],
        hooks: Sequence[AlarmHook] = (),
        trouble_hooks: Sequence[TroubleHook] = (),
        press_hooks: Sequence[PressHook] = (),
        press_patterns: Mapping[str, Patterns] | None = None,
    ) -> None:
        self.hub_id = hub_id
        self._press_patterns = press_patterns or {}
        """profile name (`canonical` for the contract's buttons) -> its press patterns"""
        self.now = now
        self.draft = Draft(state)
        self.changes = Changes()
        self.events: list[Event] = []
        self.counts: Counter[CountKey] = Counter()
        self._earlier = dict(earlier)
        self._hooks = hooks
        self._trouble_hooks = trouble_hooks
        self._press_hooks = press_hooks

    # -- primitives, also used by commands -------------------------------------------------------

    def write(self, op: Op) -> None:
        """Add a store operation to the batch: it commits in the batch's transaction, in order."""
        self.changes.ops.append(op)

    def audit(
        self,
        action: str,
        actor: str,
        *,
        at: datetime | None = None,
        alarm_id: str | None = None,
        button: str | None = None,
        trouble_id: int | None = None,
        **detail: Any,
    ) -> None:
        self.changes.add_audit(
            iso(at or self.now),
            actor,
            action,
            alarm_id=alarm_id,
            button_id=button,
            trouble_id=trouble_id,
            detail={k: v for k, v in detail.items() if v is not None} or None,
        )

    def save_alarm(
        self,
        alarm: Alarm,
        change: AlarmChange,
        actor: str,
        *,
        at: datetime | None = None,
        button: str | None = None,
        **detail: Any,
    ) -> None:
        old = self.draft.alarm(alarm.id)
        self.draft.put_alarm(alarm)
        self.changes.alarms[alarm.id] = alarm
        self.audit(f"alarm.{change}", actor, at=at, alarm_id=alarm.id, button=button, **detail)
        self.events.append(AlarmChanged(alarm, change, actor))
        for hook in self._hooks:
            hook(self, old, alarm, change)

    def raise_trouble(
        self,
        kind: TroubleKind,
        subject: str,
        *,
        detail: str = "",
        site_id: str | None = None,
        actor: str = "hub",
        at: datetime | None = None,
    ) -> Trouble | None:
        """Open a trouble, unless one of this kind is already open for the subject."""
        if self.draft.trouble(kind, subject) is not None:
            return None
        moment = at or self.now
        trouble = Trouble(
            id=self.draft.take_trouble_id(),
            kind=kind,
            subject=subject,
            site_id=site_id,
            state=TroubleState.OPEN,
            raised_at=moment,
            cleared_at=None,
            detail=detail,
        )
        self._save_trouble(trouble, "trouble.raised", actor, moment)
        return trouble

    def clear_trouble(
        self,
        kind: TroubleKind,
        subject: str,
        *,
        detail: str = "",
        actor: str = "hub",
        at: datetime | None = None,
    ) -> Trouble | None:
        trouble = self.draft.trouble(kind, subject)
        if trouble is None:
            return None
        moment = at or self.now
        cleared = replace(
            trouble, state=TroubleState.CLEARED, cleared_at=moment, detail=detail or trouble.detail
        )
        self._save_trouble(cleared, "trouble.cleared", actor, moment)
        return cleared

    def _save_trouble(self, trouble: Trouble, action: str, actor: str, at: datetime) -> None:
        self.draft.put_trouble(trouble)
        self.changes.troubles[trouble.id] = trouble
        button = trouble.subject if trouble.subject in self.draft.registry.buttons else None
        self.audit(
            action,
            actor,
            at=at,
            button=button,
            trouble_id=trouble.id,
            kind=trouble.kind,
            subject=trouble.subject,
            detail=trouble.detail or None,
        )
        self.events.append(TroubleChanged(trouble))
        for hook in self._trouble_hooks:
            hook(self, trouble)

    def touch_device(self, button: str, at: datetime, **fields: Any) -> DeviceState | None:
        """Note that the button was heard from at `at`; publish a change if something visible
        changed (first contact, online, battery, firmware), not for every heartbeat.

        Returns None, tracking nothing, for a new unregistered button once
        `MAX_UNREGISTERED_DEVICES` are tracked (a flood of made-up ids must not exhaust memory).
        """
        old = self.draft.device(button)
        values = {k: v for k, v in fields.items() if v is not None}
        if old is None and not self._may_track(button):
            self.counts[Count.UNTRACKED, ""] += 1
            return None
        if old is None:
            device = DeviceState(button_id=button, first_seen=at, last_seen=at, **values)
        else:
            device = replace(old, last_seen=max(at, old.last_seen), **values)
        self.draft.put_device(device)
        self.changes.devices[button] = device
        if old is None or any(getattr(old, k) != v for k, v in values.items() if k != "last_event"):
            self.events.append(DeviceChanged(device))
        return device

    def _may_track(self, button: str) -> bool:
        registry = self.draft.registry
        if button in registry.buttons:
            return True
        tracked = len(self.draft.state.devices) + len(self.draft.devices)
        return tracked - len(registry.buttons) < MAX_UNREGISTERED_DEVICES

    # -- inbound messages --------------------------------------------------------------------------

    def inbound(self, item: Inbound) -> None:
        if isinstance(item, PressIn):
            self.press(item)
        elif isinstance(item, StatusIn):
            self.status(item)
        elif isinstance(item, HeartbeatIn):
            self.heartbeat(item)
        elif isinstance(item, IgnoredIn):
            self.counts[Count.IGNORED, item.reason] += 1
        else:
            self.rejected(item)

    def press(self, item: PressIn) -> None:
        event, at, button_id = item.event, item.received_at, item.button
        registry = self.draft.registry
        button = registry.buttons.get(button_id)
        site = registry.site_of(button_id)
        test = (
            event.type is EventType.TEST
            or (button is not None and button.testing(at))
            or (site is not None and site.testing(at))
        )
        key = (button_id, event.id)
        earlier = EarlierEvent(self._earlier[key]) if key in self._earlier else None
        kind = kind_of_press(
            button, event.type, item.action, self._press_patterns.get(item.source, {})
        )
        facts = PressFacts(button_id, event.type, site.id if site else None, test, kind)
        verdict = correlate(facts, earlier, self.draft)
        actor = button_actor(button_id)

        if verdict.verdict is Verdict.DUPLICATE:
            self.counts[Count.DUPLICATE, ""] += 1
            if verdict.alarm_id is not None:
                open_alarm = self.draft.alarm(verdict.alarm_id)
                state = open_alarm.state if open_alarm else AlarmState.RESOLVED
                self.events.append(
                    ButtonAck(button_id, event.id, verdict.alarm_id, ACK_STATE[state])
                )
            # A redelivery is old news: it must not make a silent button look recently heard.
            return

        signed = button is not None and button.sign_key is not None
        if button is not None and signed:
            device = self.draft.device(button_id)
            refusal = refusal_of(item, button, device, self.draft.listening_since)
            if refusal is not None:
                self._refuse(item, refusal.reason, refusal.detail, site)
                return
        self.touch_device(
            button_id,
            at,
            battery=event.battery,
            last_event=event.id,
            last_seq=event.seq if signed else None,
            last_seq_key=key_id(button.sign_key) if button and button.sign_key else None,
        )
        self.clear_trouble(
            TroubleKind.BAD_MESSAGES, button_id, detail="a valid message arrived", at=at
        )
        counted = Count.PRESS if event.type.raises_alarm else Count.EVENT  # a tamper is no press
        self.counts[counted, event.type.value] += 1
        alarm: Alarm | None = None
        if verdict.verdict is Verdict.RECORD:
            alarm = self.draft.alarm(verdict.alarm_id) if verdict.alarm_id else None
            self._record_event(item, alarm, actor)
        elif verdict.verdict in (Verdict.REPEAT, Verdict.JOIN):
            current = self.draft.alarm(verdict.alarm_id or "")
            if current is None:  # the index and the alarms always agree; never lose the press
                raise RuntimeError(f"open alarm {verdict.alarm_id} missing from the state")
            alarm = alarms.add_press(current, button_id, event.id, at)
            change = AlarmChange.PRESS if verdict.verdict is Verdict.REPEAT else AlarmChange.JOINED
            self.save_alarm(
                alarm, change, actor, at=at, button=button_id, event=event.id, type=event.type.value
            )
        else:
            alarm = alarms.raise_alarm(
                hub_id=self.hub_id,
                seq=self.draft.take_alarm_seq(),
                button=button_id,
                event_id=event.id,
                site=site,
                registered=button is not None,
                test=test,
                now=at,
                kind=kind,
            )
            self.counts[Count.RAISED, "true" if test else "false"] += 1
            self.save_alarm(
                alarm,
                AlarmChange.RAISED,
                actor,
                at=at,
                button=button_id,
                event=event.id,
                type=event.type.value,
                unregistered=True if button is None else None,
                test=True if test else None,
                kind=None if kind is AlarmKind.HOLDUP else kind.value,
            )
        alarm_id = alarm.id if alarm else None
        self._earlier[key] = alarm_id
        self.changes.presses.append(
            PressRow(
                button_id=button_id,
                event_id=event.id,
                type=event.type.value,
                alarm_id=alarm_id,
                received_at=iso(at),
                device_ts=iso(event.ts) if event.ts else None,
                seq=event.seq,
                battery=event.battery,
                test=int(test),
                anomalies=json.dumps(list(event.anomalies)) if event.anomalies else None,
            )
        )
        if alarm is not None:
            self.events.append(ButtonAck(button_id, event.id, alarm.id, ACK_STATE[alarm.state]))
        for hook in self._press_hooks:
            hook(self, item)

    def _refuse(self, item: PressIn, reason: str, detail: str, site: Site | None) -> None:
        """A press that is not authentic: on record as rejected, and a trouble for its site."""
        self.counts[Count.REJECTED, reason] += 1
        payload = item.payload or item.event.model_dump_json().encode()
        topic = item.topic or f"(button {item.button})"
        self.changes.add_rejected(
            iso(item.received_at), topic, payload, reason, detail, item.button
        )
        self.raise_trouble(
            FORGERY_TROUBLE,
            item.button,
            detail=f"{reason}: {detail} (event {item.event.id[:64]})",
            site_id=site.id if site else None,
            at=item.received_at,
        )

    def _record_event(self, item: PressIn, alarm: Alarm | None, actor: str) -> None:
        """A cancel or tamper: on the record (and on the alarm's record), never closing it."""
        event = item.event
        alarm_id = alarm.id if alarm else None
        if event.type is EventType.CANCEL:
            self.audit(
                "button.cancel_requested",
                actor,
                at=item.received_at,
                alarm_id=alarm_id,
                button=item.button,
                event=event.id,
            )
        else:
            self.audit(
                "button.tamper",
                actor,
                at=item.received_at,
                alarm_id=alarm_id,
                button=item.button,
                event=event.id,
            )
            site = self.draft.registry.site_of(item.button)
            self.raise_trouble(
                TroubleKind.TAMPER,
                item.button,
                detail=f"event {event.id}",
                site_id=site.id if site else None,
                at=item.received_at,
            )

    def status(self, item: StatusIn) -> None:
        old = self.draft.device(item.button)
        changed = old is None or old.online != item.online
        tracked = self.touch_device(
            item.button,
            item.received_at,
            online=item.online,
            online_since=item.received_at if changed else None,
        )
        if tracked is None:
            return
        if changed:
            action = "button.online" if item.online else "button.offline"
            self.audit(action, button_actor(item.button), at=item.received_at, button=item.button)

    def heartbeat(self, item: HeartbeatIn) -> None:
        beat = item.beat
        self.touch_device(
            item.button, item.received_at, battery=beat.battery, rssi=beat.rssi, fw=beat.fw
        )

    def rejected(self, item: RejectedIn) -> None:
        self.counts[Count.REJECTED, item.reason] += 1
        self.changes.add_rejected(
            iso(item.received_at), item.topic, item.payload, item.reason, item.detail, item.button
        )
        if item.button is not None:
            site = self.draft.registry.site_of(item.button)
            self.raise_trouble(
                TroubleKind.BAD_MESSAGES,
                item.button,
                detail=f"{item.reason}: {item.detail}"[:300],
                site_id=site.id if site else None,
                at=item.received_at,
            )
