"""The supervisor: every `tick_s`, reviews every registered button and commits what changed.

The review (`decide.review`) runs first on the state as the event loop sees it, only to find the
buttons that need something; the `Supervise` command then decides again inside the pipeline,
where every message received before it is already applied, and commits the changes: `online` set
true or false (audited as `button.online`/`button.offline` by `hub`), `offline` and `low_battery`
troubles raised or cleared, each carrying the button's site. Both use the tick's time, so a
pipeline slowed down by a failing store does not make waiting heartbeats look late.

While the hub is cut off from the broker it hears nothing, and that says nothing about the
buttons: supervision pauses (the broker watch raises its own trouble), and silence is counted
again from the reconnection. The same holds for the telemetry connection that brings the
heartbeats (`heard_since`: the later of the two connections). A button removed from the
registry has its troubles cleared.
When buttons it finds offline complete a mass loss (several of a site, or of the commune, within
a short window), it raises a `comm_loss` alarm in the same commit (`massloss.py`).
A button or site in test mode has a `test_mode` (`site_test_mode`) trouble while it stays so; a
test mode given an end (`test_until`) is turned off by a part of its own that runs even with
supervision disabled (hub/registry/testmode.py).

The supervisor also checks the device's clock on every new press (`check_clock`, a press hook of
the pipeline): a time outside +`clock_ahead_s`/-`clock_behind_s` of the hub's opens a
`clock_skew` trouble (the press raises its alarm as always); a press within clears it. A press
that waited in the broker while the hub was away is late, not skewed: presses behind the hub's
clock are not judged until the hub has listened for `clock_behind_s`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import ClassVar, Final

from hub.clock import Clock
from hub.config import SupervisionSection
from hub.domain.bus import Bus, DeviceChanged
from hub.domain.inbound import PressIn
from hub.domain.model import DeviceState, TroubleKind
from hub.domain.state import Registry
from hub.errors import ChuongError
from hub.supervision import massloss, policy
from hub.supervision.decide import (
    BUTTON_TROUBLES,
    CLOCK_SKEW,
    OFFLINE,
    SITE_TEST_MODE,
    TEST_MODE,
    Action,
    Clear,
    Limits,
    Raise,
    SetOnline,
    clock_skew,
    review,
    test_modes,
)
from hub.writer.pipeline import Pipeline
from hub.writer.plan import Command, Plan

log = logging.getLogger(__name__)

REVIEW_SLICE: Final = 128
"""Buttons reviewed before the review lets the event loop run (about a millisecond of CPU)."""
REVIEW_WAIT_S: Final = 0.02
"""Between two slices the review waits for the writer to be idle, at most this long (so that a
writer kept busy by a flood slows supervision down without stopping it)."""
SUPERVISE_CHUNK: Final = 16
"""Most buttons of one `Supervise` command, but for those going offline (see `tick`): a press
that arrives while one is committed waits for it, a millisecond or two."""


@dataclass(frozen=True, slots=True)
class Reviewer:
    config: SupervisionSection
    limits: Limits

    @classmethod
    def of(cls, config: SupervisionSection) -> Reviewer:
        return cls(config, policy.limits(config))

    def actions(
        self,
        button_id: str,
        registry: Registry,
        device: DeviceState | None,
        open_troubles: frozenset[TroubleKind],
        listening_since: datetime,
        now: datetime,
    ) -> list[Action]:
        button = registry.buttons.get(button_id)
        if button is None:
            return [Clear(kind, "removed from the registry") for kind in sorted(open_troubles)]
        return review(
            policy.liveness(button, self.config),
            device,
            open_troubles,
            self.limits,
            listening_since,
            now,
        )


def _test_mode_due(
    registry: Registry,
    is_open: Callable[[TroubleKind, str], bool],
    keys: Iterable[tuple[TroubleKind, str]],
) -> list[tuple[str, Action, str | None]]:
    """Test-mode troubles to raise or clear among `keys`: (subject, action, site id)."""
    wanted = test_modes(registry)
    due: list[tuple[str, Action, str | None]] = []
    for kind, subject in sorted(set(keys)):
        if (kind, subject) in wanted and not is_open(kind, subject):
            site_id, detail = wanted[(kind, subject)]
            due.append((subject, Raise(kind, detail), site_id))
        elif (kind, subject) not in wanted and is_open(kind, subject):
            due.append((subject, Clear(kind, "test mode is off"), None))
    return due


@dataclass(slots=True)
class Supervise(Command):
    upkeep: ClassVar[bool] = True  # in a batch of its own, after the presses queued behind it

    reviewer: Reviewer
    buttons: tuple[str, ...]
    listening_since: datetime
    at: datetime
    test_mode_keys: tuple[tuple[TroubleKind, str], ...] = ()
    language: str = "vi"

    def heard_from(self) -> tuple[str, ...]:
        return self.buttons

    def plan(self, plan: Plan) -> list[tuple[str, Action]]:
        draft = plan.draft
        applied: list[tuple[str, Action]] = []
        for subject, action, site_id in _test_mode_due(
            draft.registry,
            lambda kind, subject: draft.trouble(kind, subject) is not None,
            self.test_mode_keys,
        ):
            _apply(plan, subject, action, self.at, site_id)
            applied.append((subject, action))
        for button_id in self.buttons:
            open_troubles = frozenset(
                kind for kind in BUTTON_TROUBLES if draft.trouble(kind, button_id) is not None
            )
            for action in self.reviewer.actions(
                button_id,
                draft.registry,
                draft.device(button_id),
                open_troubles,
                self.listening_since,
                self.at,
            ):
                site = draft.registry.site_of(button_id)
                _apply(plan, button_id, action, self.at, site.id if site else None)
                applied.append((button_id, action))
        newly_offline = [
            button_id
            for button_id, action in applied
            if isinstance(action, Raise) and action.kind == OFFLINE
        ]
        for alarm in massloss.apply(
            plan, newly_offline, self.reviewer.config, self.listening_since, self.language
        ):
            log.warning(
                "supervision: communication lost with %s: alarm %s (%s)",
                alarm.site.name if alarm.site else "?",
                alarm.id,
                ", ".join(alarm.buttons),
            )
        return applied


def _apply(plan: Plan, button_id: str, action: Action, at: datetime, site_id: str | None) -> None:
    if isinstance(action, SetOnline):
        device = plan.draft.device(button_id)
        assert device is not None  # `review` only sets `online` of a button it has heard from
        updated = replace(device, online=action.online, online_since=at)
        plan.draft.put_device(updated)
        plan.changes.devices[button_id] = updated
        plan.events.append(DeviceChanged(updated))
        verb = "button.online" if action.online else "button.offline"
        plan.audit(verb, "hub", at=at, button=button_id, reason=action.reason)
    elif isinstance(action, Raise):
        plan.raise_trouble(action.kind, button_id, detail=action.detail, site_id=site_id, at=at)
    else:
        plan.clear_trouble(action.kind, button_id, detail=action.detail, at=at)


class Supervisor:
    def __init__(
        self,
        *,
        config: SupervisionSection,
        pipeline: Pipeline,
        bus: Bus,
        clock: Clock,
        language: str = "vi",
    ) -> None:
        self._config = config
        self._language = language
        self._pipeline = pipeline
        self._bus = bus
        self._clock = clock
        self._reviewer = Reviewer.of(config)
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        """Reviews completed (for tests and the log)."""
        self.slices = 0
        """Times a review let the loop run between two slices of buttons (for tests)."""
        self.separate_telemetry = False
        """The heartbeats come on the hub's telemetry connection (hub/broker/watch.py)."""
        self.telemetry_since: datetime | None = None
        """When that connection last connected; None while it is not."""

    async def start(self) -> None:
        if self._config.enabled:
            self._task = asyncio.create_task(self._run(), name="supervisor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def listening_since(self) -> datetime | None:
        """When the hub last connected to the broker; None while it is not (kept in the hub's
        state by `Hub`, which also uses it for signed presses)."""
        return self._pipeline.state.listening_since

    @listening_since.setter
    def listening_since(self, value: datetime | None) -> None:
        self._pipeline.state.listening_since = value

    def heard_since(self) -> datetime | None:
        """Since when the hub has heard everything the buttons say: the later of its own
        connection's and the telemetry connection's; None while either is down."""
        since = self.listening_since
        if not self.separate_telemetry or since is None:
            return since
        if self.telemetry_since is None:
            return None
        return max(since, self.telemetry_since)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._config.tick_s)
            try:
                await self.tick()
            except ChuongError as exc:
                log.warning("supervision: review failed: %s", exc)
            except Exception:
                log.exception("supervision: review failed")

    async def tick(self) -> None:
        """Review every button once (nothing while the hub is cut off from the broker)."""
        since = self.heard_since()
        if since is None:
            return
        now = self._clock.now()
        state = self._pipeline.state
        registry = state.registry
        subjects = set(registry.buttons)
        subjects.update(subject for kind, subject in state.troubles if kind in BUTTON_TROUBLES)
        ordered = sorted(subjects)
        losses: list[str] = []
        others: list[str] = []
        for start in range(0, len(ordered), REVIEW_SLICE):
            if start:
                # A province's buttons take a slow CPU a tenth of a second or more: the loop
                # reads and acknowledges presses between two slices, and the next slice waits
                # until the writer has committed what came meanwhile. What changes meanwhile is
                # harmless: `Supervise` decides again inside the pipeline.
                await self._pipeline.quiet(REVIEW_WAIT_S)
                self.slices += 1
            for button_id in ordered[start : start + REVIEW_SLICE]:
                actions = self._reviewer.actions(
                    button_id,
                    registry,
                    state.devices.get(button_id),
                    frozenset(k for k in BUTTON_TROUBLES if (k, button_id) in state.troubles),
                    since,
                    now,
                )
                if any(isinstance(a, Raise) and a.kind == OFFLINE for a in actions):
                    losses.append(button_id)
                elif actions:
                    others.append(button_id)
        state = self._pipeline.state
        test_keys = set(test_modes(state.registry))
        test_keys.update(k for k in state.troubles if k[0] in (TEST_MODE, SITE_TEST_MODE))
        test_due = _test_mode_due(
            state.registry, lambda kind, subject: (kind, subject) in state.troubles, test_keys
        )
        # The buttons going offline are decided in one command, so that a mass loss is judged on
        # all of them at once (massloss.py); the rest (a fleet heard again, batteries) in
        # commands of `SUPERVISE_CHUNK`, one after the other: each is upkeep (a batch of its
        # own, after the presses queued behind it), never a review of thousands.
        commands: list[tuple[tuple[str, ...], tuple[tuple[TroubleKind, str], ...]]] = []
        if losses or test_due:
            commands.append((tuple(losses), tuple(sorted(test_keys))))
        commands.extend(
            (tuple(others[start : start + SUPERVISE_CHUNK]), ())
            for start in range(0, len(others), SUPERVISE_CHUNK)
        )
        for buttons, keys in commands:
            command = Supervise(self._reviewer, buttons, since, now, keys, self._language)
            for subject, action in await self._pipeline.execute(command):
                _log(subject, action)
        self.ticks += 1

    def check_clock(self, plan: Plan, item: PressIn) -> None:
        """The press hook: a device clock outside the window opens `clock_skew`."""
        event, button_id = item.event, item.button
        if event.ts is None or button_id not in plan.draft.registry.buttons:
            return
        cfg = self._config
        offset = clock_skew(event.ts, item.received_at, cfg.clock_ahead_s, cfg.clock_behind_s)
        if offset is None:
            plan.clear_trouble(
                CLOCK_SKEW, button_id, detail=f"event {event.id}: in time", at=item.received_at
            )
            return
        since = self.listening_since
        if offset < 0 and (
            since is None or (item.received_at - since).total_seconds() < cfg.clock_behind_s
        ):
            return  # perhaps it waited in the broker while the hub was away: late, not skewed
        site = plan.draft.registry.site_of(button_id)
        how = (
            f"device clock {offset:.0f} s ahead of the hub's"
            if offset > 0
            else f"device time {-offset:.0f} s behind the hub's (a wrong clock, or a late press)"
        )
        plan.raise_trouble(
            CLOCK_SKEW,
            button_id,
            detail=f"{how}; event {event.id}, its alarm was raised",
            site_id=site.id if site else None,
            at=item.received_at,
        )


def _log(button_id: str, action: Action) -> None:
    if isinstance(action, Raise):
        level = logging.WARNING if action.kind == OFFLINE else logging.INFO
        log.log(level, "supervision: %s: %s trouble: %s", button_id, action.kind, action.detail)
    elif isinstance(action, Clear):
        log.info("supervision: %s: %s cleared: %s", button_id, action.kind, action.detail)
    else:
        state = "online" if action.online else "offline"
        log.info("supervision: %s is %s: %s", button_id, state, action.reason)
