"""The outbox dispatcher: one worker task per notifier, each on its own.

A worker takes its notifier's pending row that is due first, records the attempt, sends with a
time limit, and records the outcome. A failure is retried after `retry_min_s`, doubling up to
`retry_max_s` (or after the `Retry-After` the service gave), until `give_up_after_s` from when the
row was queued; a permanent error (the service refused the request itself) is final at once.
After `FAILURES_FOR_TROUBLE` failures in a row the worker raises the trouble `notifier_failing`
(subject `notifier:<name>`), cleared by its next delivery.

Workers never wait for each other: a slow or dead service holds back only its own queue, and
never ingest, whose writer only sees a few short commands per attempt. A worker sleeps until its
next row is due, or until it is woken (new rows: `wake`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from prometheus_client import Counter

from hub.backoff import Backoff
from hub.broker.fanout import Publisher
from hub.clock import Clock, iso
from hub.config import Config
from hub.domain.bus import AlarmChanged, Bus, Event
from hub.domain.model import AlarmChange, TroubleKind
from hub.metrics import Metrics
from hub.notify import outbox
from hub.notify.base import Notifier, NotifyError, Outgoing
from hub.notify.links import SECRET_META_KEY, LinkMaker, new_secret
from hub.notify.message import render, zone
from hub.notify.mqtt import MqttNotifier
from hub.notify.registry import build
from hub.notify.settings import NotifierSettings
from hub.store import Store
from hub.store.ops import OutboxRow
from hub.writer.commands import ClearTrouble, RaiseTrouble, SetMeta
from hub.writer.pipeline import Pipeline

log = logging.getLogger(__name__)

IDLE_S: Final = 30.0
"""A worker looks at its queue at least this often, woken or not."""
GRACE_S: Final = 5.0
"""Beyond a notifier's own `timeout_s`, before its attempt is abandoned."""
FAILURES_FOR_TROUBLE: Final = 3
FAILING: Final = TroubleKind.NOTIFIER_FAILING
ERROR_KEEP: Final = 300


def failing_subject(name: str) -> str:
    return f"notifier:{name}"


@dataclass(slots=True)
class _Worker:
    name: str
    config: NotifierSettings
    notifier: Notifier
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    failures: int = 0
    task: asyncio.Task[None] | None = None


class Dispatcher:
    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        pipeline: Pipeline,
        bus: Bus,
        clock: Clock,
        publisher: Publisher,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._store = store
        self._pipeline = pipeline
        self._bus = bus
        self._clock = clock
        self._publisher = publisher
        self._metrics = metrics
        self._workers: dict[str, _Worker] = {}
        self._links: LinkMaker | None = None
        self._attempts: Counter | None = None

    async def start(self) -> None:
        cfg = self._config
        if not cfg.notifiers:
            return
        self._attempts = Counter(
            "chuong_notify_attempts",
            "Notification attempts, by notifier and outcome.",
            ["notifier", "outcome"],
            registry=self._metrics.registry,
        )
        await self._prepare_links()
        for name in await self._store.pending_notifiers() - set(cfg.notifiers):
            log.warning("notify: pending notifications for %s, no longer configured: failed", name)
            await self._pipeline.execute(outbox.Abandon(name))
        for name, notifier_config in cfg.notifiers.items():
            notifier = build(notifier_config, publisher=self._publisher, language=cfg.hub.language)
            worker = _Worker(name, notifier_config, notifier)
            worker.task = asyncio.create_task(self._run(worker), name=f"notify-{name}")
            self._workers[name] = worker
        self._bus.subscribe(self._on_event)
        log.info("notify: %d notifiers: %s", len(self._workers), ", ".join(self._workers))

    async def stop(self) -> None:
        self._bus.unsubscribe(self._on_event)
        tasks = [w.task for w in self._workers.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for worker in self._workers.values():
            try:
                await worker.notifier.close()
            except Exception:
                log.exception("notify %s: failed to close", worker.name)
        self._workers.clear()

    def wake(self) -> None:
        """New rows may be waiting (called after a commit that queued some)."""
        for worker in self._workers.values():
            worker.wake.set()

    def _on_event(self, event: Event) -> None:
        # An acknowledgement or a resolve queues `clear` rows (a siren goes off) in its commit.
        if isinstance(event, AlarmChanged) and event.change in (
            AlarmChange.ACKNOWLEDGED,
            AlarmChange.RESOLVED,
        ):
            self.wake()

    async def _prepare_links(self) -> None:
        cfg = self._config
        secret = await self._store.meta(SECRET_META_KEY)
        if secret is None:
            secret = new_secret()
            await self._pipeline.execute(SetMeta(SECRET_META_KEY, secret))
        if cfg.hub.public_url is None:
            if any(n.links for n in cfg.notifiers.values()):
                log.warning(
                    "notify: hub.public_url is not set: messages carry no link to acknowledge"
                )
            return
        self._links = LinkMaker(
            bytes.fromhex(secret), str(cfg.hub.public_url), cfg.escalation.link_ttl_s
        )

    # -- one worker --------------------------------------------------------------------------------

    async def _run(self, worker: _Worker) -> None:
        while True:
            try:
                await self._step(worker)
            except asyncio.CancelledError:
                raise
            except Exception:  # the store, or a bug: never a hot loop, never a dead worker
                log.exception("notify %s: unexpected error; trying again shortly", worker.name)
                await asyncio.sleep(GRACE_S)

    async def _step(self, worker: _Worker) -> None:
        worker.wake.clear()  # before reading: a wake-up during the read is not lost
        row = await self._store.next_pending_notification(worker.name)
        wait = IDLE_S
        if row is not None:
            wait = (row.next_attempt_at - self._clock.now()).total_seconds()
            if wait <= 0:
                await self._deliver(worker, row)
                return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(worker.wake.wait(), min(wait, IDLE_S))

    async def _deliver(self, worker: _Worker, row: OutboxRow) -> None:
        attempt = row.attempts + 1
        await self._pipeline.execute(outbox.RecordAttempt(row, attempt))
        held_by = await self._held_by(worker, row)
        if held_by is not None:
            kept = f"left on: alarm {held_by} still needs it"
            await self._pipeline.execute(outbox.RecordOutcome(row, attempt, note=kept))
            return
        outgoing = self._outgoing(worker, row)
        error: str | None = None
        permanent = False
        retry_after: float | None = None
        note: str | None = None
        timeout = worker.config.timeout_s + GRACE_S
        try:
            note = await asyncio.wait_for(worker.notifier.send(outgoing), timeout)
        except NotifyError as exc:
            error, permanent, retry_after = str(exc), exc.permanent, exc.retry_after
        except TimeoutError:
            error = f"no answer within {timeout:g}s"
        except Exception as exc:
            log.exception("notify %s: %s: the notifier failed unexpectedly", worker.name, row.key)
            error = f"internal error: {type(exc).__name__}"
        if error is None:
            await self._delivered(worker, row, attempt, note)
        else:
            await self._failed(worker, row, attempt, error[:ERROR_KEEP], permanent, retry_after)

    async def _held_by(self, worker: _Worker, row: OutboxRow) -> str | None:
        """For a shared device, another active alarm that still needs it on."""
        config = worker.config
        if row.event != "clear" or row.alarm_id is None:
            return None
        if not isinstance(config, MqttNotifier) or config.per_alarm:
            return None
        return await self._store.other_active_alarm(worker.name, row.alarm_id)

    def _outgoing(self, worker: _Worker, row: OutboxRow) -> Outgoing:
        cfg = self._config
        link = None
        if self._links is not None and worker.config.links and row.event == "alarm":
            assert row.alarm_id is not None
            person = worker.config.person or worker.name
            link = self._links.make(row.alarm_id, person, self._clock.now())
        message = render(
            row.event,
            row.body,
            language=cfg.hub.language,
            where=zone(cfg.hub.timezone),
            link=link,
        )
        return Outgoing(row.key, row.event, row.body, message, link, cfg.hub.id)

    async def _delivered(
        self, worker: _Worker, row: OutboxRow, attempt: int, note: str | None
    ) -> None:
        await self._pipeline.execute(outbox.RecordOutcome(row, attempt, note=note))
        self._count(worker, "delivered")
        log.info("notify %s: %s delivered (attempt %d)", worker.name, row.key, attempt)
        worker.failures = 0
        if self._failing(worker):  # also one left open by an earlier run of the hub
            await self._pipeline.execute(
                ClearTrouble(FAILING, failing_subject(worker.name), "delivers again")
            )

    async def _failed(
        self,
        worker: _Worker,
        row: OutboxRow,
        attempt: int,
        error: str,
        permanent: bool,
        retry_after: float | None,
    ) -> None:
        now = self._clock.now()
        retry_at = self._retry_at(worker.config, row, attempt, now, permanent, retry_after)
        await self._pipeline.execute(
            outbox.RecordOutcome(row, attempt, error=error, retry_at=retry_at)
        )
        self._count(worker, "failed")
        worker.failures += 1
        if retry_at is None:
            log.error(
                "notify %s: %s failed for good (attempt %d): %s",
                worker.name,
                row.key,
                attempt,
                error,
            )
        else:
            log.warning(
                "notify %s: %s failed (attempt %d): %s; retrying at %s",
                worker.name,
                row.key,
                attempt,
                error,
                iso(retry_at),
            )
        if worker.failures >= FAILURES_FOR_TROUBLE and not self._failing(worker):
            await self._pipeline.execute(
                RaiseTrouble(
                    FAILING,
                    failing_subject(worker.name),
                    f"{worker.failures} attempts in a row failed; the last: {error}",
                )
            )

    def _failing(self, worker: _Worker) -> bool:
        """Is this notifier's `notifier_failing` trouble open? (The writer's state, read only.)"""
        return (FAILING, failing_subject(worker.name)) in self._pipeline.state.troubles

    @staticmethod
    def _retry_at(
        config: NotifierSettings,
        row: OutboxRow,
        attempt: int,
        now: datetime,
        permanent: bool,
        retry_after: float | None,
    ) -> datetime | None:
        if permanent:
            return None
        if retry_after is not None:
            delay = retry_after
        else:
            backoff = Backoff(config.retry_min_s, config.retry_max_s, jitter=(0.8, 1.0))
            delay = backoff.delay(attempt - 1)
        retry_at = now + timedelta(seconds=delay)
        if retry_at - row.created_at > timedelta(seconds=config.give_up_after_s):
            return None
        return retry_at

    def _count(self, worker: _Worker, outcome: str) -> None:
        if self._attempts is not None:
            self._attempts.labels(worker.name, outcome).inc()
