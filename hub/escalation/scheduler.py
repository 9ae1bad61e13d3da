"""The escalation scheduler: wakes when a stored deadline comes and runs what is due.

Deadlines live in the store (`escalations.next_due_at`), not in timers: the scheduler only reads
the earliest ones, sleeps until the first, and runs `RunDue` for each that has come. After a
restart, clean or kill -9, the first read finds every overdue step, which fires at once.

It is woken early when an alarm is raised or a trouble opens (a step may be due at once) and when
an alarm is resolved (troubles of its site held back meanwhile may go), and it looks at the store
at least every `IDLE_S` seconds in any case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from hub.clock import Clock
from hub.domain.bus import AlarmChanged, Bus, Event, TroubleChanged
from hub.domain.model import AlarmChange, TroubleState
from hub.errors import ChuongError
from hub.escalation.engine import Adopt, RunDue
from hub.escalation.policies import Policies
from hub.store import Store
from hub.writer.pipeline import Pipeline

log = logging.getLogger(__name__)

IDLE_S: Final = 30.0
BATCH: Final = 100
HOLD_AFTER_ERROR: Final = timedelta(seconds=30)
"""An escalation whose step failed to commit (a bug) is tried again after this, not in a loop."""


class Escalator:
    def __init__(
        self,
        *,
        policies: Policies,
        pipeline: Pipeline,
        bus: Bus,
        store: Store,
        clock: Clock,
        on_queued: Callable[[], None],
    ) -> None:
        self._policies = policies
        self._pipeline = pipeline
        self._bus = bus
        self._store = store
        self._clock = clock
        self._on_queued = on_queued
        self._wake = asyncio.Event()
        self._held: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Adopt the open alarms and troubles, then run deadlines as they come. (The hooks that
        store the deadlines, `EscalationHooks`, are registered with the pipeline by `hub.app`.)"""
        if not self._policies.enabled:
            log.info("escalation: no steps configured; alarms are shown on the page only")
            return
        await self._pipeline.execute(Adopt(self._policies))
        self._bus.subscribe(self._on_event)
        self._task = asyncio.create_task(self._run(), name="escalation-scheduler")

    async def stop(self) -> None:
        self._bus.unsubscribe(self._on_event)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _on_event(self, event: Event) -> None:
        if (
            isinstance(event, AlarmChanged)
            and event.change in (AlarmChange.RAISED, AlarmChange.RESOLVED)
        ) or (isinstance(event, TroubleChanged) and event.trouble.state is TroubleState.OPEN):
            self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                wait = await self._run_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store failing to read: look again shortly
                log.exception("escalation: cannot read the deadlines; trying again")
                wait = 5.0
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    async def _run_due(self) -> float:
        """Run every escalation that is due; return how long to sleep."""
        self._wake.clear()
        now = self._clock.now()
        self._held = {s: t for s, t in self._held.items() if t > now}
        rows = [r for r in await self._store.due_escalations(BATCH) if r.subject not in self._held]
        ran = 0
        for due in rows:
            if due.next_due_at > now:
                break
            ran += 1
            try:
                decision = await self._pipeline.execute(RunDue(self._policies, due))
            except ChuongError as exc:
                log.error("escalation: %s: the step could not be recorded: %s", due.subject, exc)
                self._held[due.subject] = now + HOLD_AFTER_ERROR
                continue
            for firing in decision.firings:
                log.info(
                    "escalation: %s: step %d (round %d) fires: %s",
                    due.subject,
                    firing.step,
                    firing.round,
                    ", ".join(firing.notify),
                )
        if ran:
            self._on_queued()
            return 0.0
        upcoming = [r.next_due_at for r in rows] + list(self._held.values())
        if not upcoming:
            return IDLE_S
        return max(0.0, min(IDLE_S, (min(upcoming) - now).total_seconds()))
