"""Watching the broker connection: troubles for what the officer must know about it.

- **broker_disconnected**: the hub has been cut off from the broker for longer than a grace
  period (10 s, as EN 50131 ignores fault states shorter than that); cleared on reconnection.
- **session_lost**: the broker had no session for the hub although one was established before
  (the broker restarted without persistence, or the session expired): presses sent while the hub
  was away may be lost. Cleared by the next connection that finds its session.

It also keeps `HubState.listening_since`, the moment the hub last connected: presses that arrive
soon after may have waited in the broker (supervision and signed presses allow for that). Like
every change of the hub's state, it goes through the writer (`SetListening`), which publishes
`BrokerConnected` / `BrokerDisconnected` once its batch is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Final

from hub.clock import Clock
from hub.domain.bus import BrokerConnected, BrokerDisconnected
from hub.domain.model import TroubleKind
from hub.errors import ChuongError
from hub.store import Store
from hub.writer.commands import ClearTrouble, RaiseTrouble, SetListening, SetMeta
from hub.writer.pipeline import Pipeline
from hub.writer.plan import Command

log = logging.getLogger(__name__)

SESSION_KEY: Final = "mqtt_session_established"
DISCONNECT_GRACE_S: Final = 10.0


class _Watch:
    """What both watches share: a trouble raised after a grace period of disconnection and
    cleared on reconnection, and commands sent to the writer without waiting for them."""

    _label = "watch"

    def __init__(self, *, pipeline: Pipeline, clock: Clock, grace_s: float) -> None:
        self._pipeline = pipeline
        self._clock = clock
        self._grace_s = grace_s
        self._timer: asyncio.TimerHandle | None = None
        self._reported = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _arm(self, reason: str) -> None:
        """Disconnected: report it once the grace period has passed (if not already)."""
        if self._timer is None and not self._reported:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._grace_s, self._fire, reason)

    def _disarm(self) -> bool:
        """Connected: no report to come; whether one was made (and must now be cleared)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        reported, self._reported = self._reported, False
        return reported

    def _fire(self, reason: str) -> None:
        self._timer = None
        self._reported = True
        self._report(reason)

    def _report(self, reason: str) -> None:
        raise NotImplementedError

    def _run(self, command: Command) -> None:
        if self._pipeline.closed:  # the hub is stopping: its state no longer matters
            return
        task = asyncio.create_task(
            self._execute(command), name=f"{self._label}-{type(command).__name__}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, command: Command) -> None:
        try:
            await self._pipeline.execute(command)
        except ChuongError as exc:
            log.warning("%s: %s", self._label.replace("-", " "), exc)


class BrokerWatch(_Watch):
    _label = "broker-watch"

    def __init__(
        self,
        *,
        pipeline: Pipeline,
        store: Store,
        clock: Clock,
        grace_s: float = DISCONNECT_GRACE_S,
    ) -> None:
        super().__init__(pipeline=pipeline, clock=clock, grace_s=grace_s)
        self._store = store
        self._session_established = False

    async def start(self) -> None:
        self._session_established = await self._store.meta(SESSION_KEY) is not None

    def connected(self, session_present: bool) -> None:
        now = self._clock.now()
        commands: list[Command] = [SetListening(now, BrokerConnected(session_present))]
        if self._disarm():
            commands.append(ClearTrouble(TroubleKind.BROKER_DISCONNECTED, "hub", "connected again"))
        if session_present:
            commands.append(
                ClearTrouble(TroubleKind.SESSION_LOST, "hub", "the broker kept the hub's session")
            )
        elif self._session_established:
            log.error(
                "mqtt: the broker had no session for the hub; presses queued for it may be lost"
            )
            commands.append(
                RaiseTrouble(
                    TroubleKind.SESSION_LOST,
                    "hub",
                    "the broker had no session for the hub (restarted without persistence, or the "
                    "session expired): presses sent while the hub was away may be lost",
                )
            )
        if not self._session_established:
            self._session_established = True
            commands.append(SetMeta(SESSION_KEY, "1"))
        for command in commands:
            self._run(command)

    def disconnected(self, reason: str) -> None:
        self._run(SetListening(None, BrokerDisconnected(reason)))
        self._arm(reason)

    def _report(self, reason: str) -> None:
        self._run(RaiseTrouble(TroubleKind.BROKER_DISCONNECTED, "hub", reason))


TELEMETRY_SUBJECT: Final = "hub-telemetry"


class TelemetryWatch(_Watch):
    """The telemetry connection (heartbeats and check-ins, clean session: hub/broker/mqtt.py,
    `clean`): while it is down the hub hears no heartbeat, so supervision pauses (its
    `heard_since` is None, as for the hub's own connection) and, past the grace period, a
    `broker_disconnected` trouble with subject `hub-telemetry` says so. Presses do not depend
    on it: `/readyz` follows the hub's persistent connection only."""

    _label = "telemetry-watch"

    def __init__(
        self,
        *,
        pipeline: Pipeline,
        clock: Clock,
        on_listening: Callable[[datetime | None], None],
        grace_s: float = DISCONNECT_GRACE_S,
    ) -> None:
        super().__init__(pipeline=pipeline, clock=clock, grace_s=grace_s)
        self._on_listening = on_listening

    async def start(self) -> None:
        return

    def connected(self, session_present: bool) -> None:
        self._on_listening(self._clock.now())
        if self._disarm():
            self._run(ClearTrouble(TroubleKind.BROKER_DISCONNECTED, TELEMETRY_SUBJECT, "connected"))

    def disconnected(self, reason: str) -> None:
        self._on_listening(None)
        self._arm(reason)

    def _report(self, reason: str) -> None:
        detail = (
            f"the hub's telemetry connection is down ({reason}): heartbeats are not heard and "
            "supervision is paused; presses still arrive on the hub's own connection"
        )
        self._run(RaiseTrouble(TroubleKind.BROKER_DISCONNECTED, TELEMETRY_SUBJECT, detail))
