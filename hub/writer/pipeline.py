"""The pipeline: the hub's single writer, with group commit.

Every change goes through here, in arrival order: presses, statuses, heartbeats and rejects from
ingest, and commands from the API and timers. The writer task takes whatever is waiting (at most
`batch_max`), plans the batch, commits it in one transaction, and only then

1. folds the plan into the in-memory state,
2. acknowledges the batch's messages to the broker (PUBACK), in arrival order,
3. publishes the batch's events on the bus (fan-out to MQTT, the page, notifiers),
4. answers the commands.

So a press is acknowledged to the broker only once it is durable, and nothing is announced that a
crash could take back. Under low load a batch is one message (nothing waits for company); under
load, batches grow while the previous commit runs, which is what makes the hub fast.

Heartbeats are the exception to "one message, one place in the queue": they are QoS 0 and best
effort by contract, and a province's fleet sends thousands a second. The latest heartbeat of each
button waits at most `heartbeat_flush_s` in memory and is then committed with the others, in
batches of at most `batch_max` that take their turn in the queue behind what waits there (presses
never wait behind a big heartbeat flush). Each button's messages keep their order: when another
message of a button arrives, its held heartbeat goes into the queue just ahead of it, so a
heartbeat never overwrites newer news, and the news it carried (battery, signal) is not lost. A
command that decides on buttons' news (`Command.heard_from`: the supervisor's review) has their
held heartbeats queued ahead of it the same way, so no button is found silent for a heartbeat
that is waiting here. A
heartbeat that arrived with QoS 1 (a profile's) goes through the queue like any message, so that
its PUBACK still follows its commit.

Upkeep (`Command.upkeep`: the supervisor's commands, which set buttons online or offline every
tick) never shares a batch: what is queued behind an upkeep command (presses above all) goes first,
in batches of its own, and the upkeep command follows alone, once nothing else waits or once
`UPKEEP_OVERTAKEN_MAX` batches have gone ahead of it (so that a steady stream of presses cannot
starve supervision). A press is thus never planned nor committed with a review's changes, and
waits at most for the one upkeep batch under way when it arrives. Letting messages go ahead is
safe: an upkeep command decides again on the state it finds when it is planned, so it only sees
buttons heard more recently; it carries no PUBACK, and the messages keep their own order among
themselves. The supervisor's review, on the loop, also waits for the writer to be idle between
two of its slices (`quiet`).

When a commit fails:
- a store error that may pass (disk full, I/O error, locked, read-only) keeps the batch and retries
  it with backoff, indefinitely. Nothing is acknowledged meanwhile, so the broker keeps every press
  (at most `mqtt.receive_maximum` are held here); `/readyz` says why, and the in-memory trouble
  `store_unwritable` is shown until the store recovers;
- any other error is a bug tripped by one of the messages: the batch is split and each message
  planned and committed alone; the one that still fails is kept in the rejected log as
  `internal_error` with an open trouble, and the hub goes on with the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar, assert_never

from hub.backoff import Backoff
from hub.clock import Clock, iso
from hub.domain.bus import AlarmChanged, Bus
from hub.domain.inbound import Acker, HeartbeatIn, Inbound, PressIn
from hub.domain.kinds import Patterns
from hub.domain.model import AlarmChange, TroubleKind
from hub.domain.state import HubState
from hub.errors import ChuongError
from hub.metrics import PRESS_STAGES, Metrics
from hub.store import WRITE_ERRORS, Store, write_may_pass
from hub.writer.plan import AlarmHook, Command, Count, Plan, PressHook, TroubleHook

log = logging.getLogger(__name__)

T = TypeVar("T")

HEARTBEAT_BACKLOG_LIMIT: Final = 20_000
"""Beyond this many buttons with a heartbeat waiting, heartbeats of other buttons are dropped."""
HEARTBEAT_FLUSH_S: Final = 2.0
"""The longest a heartbeat waits in memory before it is committed with the others."""
COMMIT_RETRY_FIRST_S: Final = 0.1
"""The first wait before a failed commit is tried again (then doubling up to `retry_max_s`)."""
UPKEEP_OVERTAKEN_MAX: Final = 10
"""Batches that may go ahead of a waiting upkeep command before it is committed anyway."""


@dataclass(slots=True)
class _Pending:
    command: Command
    future: asyncio.Future[Any]
    result: object = None


class _Stop:
    pass


class _FlushHeartbeats:
    pass


_STOP: Final = _Stop()
_FLUSH_HEARTBEATS: Final = _FlushHeartbeats()

Item = Inbound | _Pending


class ProbeStore(Command):
    """Prove that the store still takes commits, when nothing else has for a while."""

    def plan(self, plan: Plan) -> None:
        plan.changes.meta["probe_at"] = iso(plan.now)


@dataclass(slots=True)
class StoreHealth:
    writable: bool = True
    error: str | None = None
    since: datetime | None = None


class Pipeline:
    def __init__(
        self,
        *,
        store: Store,
        state: HubState,
        bus: Bus,
        metrics: Metrics,
        clock: Clock,
        acker: Acker,
        hub_id: str,
        batch_max: int = 1000,
        retry_max_s: float = 5.0,
        probe_interval_s: float = 5.0,
        heartbeat_flush_s: float = HEARTBEAT_FLUSH_S,
        hooks: Sequence[AlarmHook] = (),
        press_patterns: Mapping[str, Patterns] | None = None,
    ) -> None:
        self.store = store
        self._press_patterns = dict(press_patterns or {})
        self.state = state
        self._bus = bus
        self._metrics = metrics
        self._stages = {name: metrics.press_stage.labels(name) for name in PRESS_STAGES}
        """the stage histograms' children, looked up once (a press observes six)"""
        self._clock = clock
        self._acker = acker
        self._hub_id = hub_id
        self._batch_max = batch_max
        self._retry = Backoff(COMMIT_RETRY_FIRST_S, retry_max_s, jitter=(0.8, 1.2))
        self._probe_interval_s = probe_interval_s
        self._heartbeat_flush_s = heartbeat_flush_s
        self._hooks = list(hooks)
        self._trouble_hooks: list[TroubleHook] = []
        self._press_hooks: list[PressHook] = []
        self._queue: asyncio.Queue[Item | _Stop | _FlushHeartbeats] = asyncio.Queue()
        self._heartbeats: dict[str, HeartbeatIn] = {}
        self._heartbeat_timer: asyncio.TimerHandle | None = None
        self._upkeep: deque[_Pending] = deque()
        """upkeep commands taken from the queue, waiting for the messages behind them"""
        self._overtaken = 0
        """batches committed ahead of the first waiting upkeep command"""
        self._waiting = asyncio.Event()
        """set while the writer waits for work with nothing queued; cleared by `_put`"""
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._data_version = 0
        self._last_commit = 0.0
        self._last_activity = 0.0
        self.health = StoreHealth()

    def add_hook(self, hook: AlarmHook) -> None:
        self._hooks.append(hook)

    def add_trouble_hook(self, hook: TroubleHook) -> None:
        self._trouble_hooks.append(hook)

    def add_press_hook(self, hook: PressHook) -> None:
        self._press_hooks.append(hook)

    # -- entry points ------------------------------------------------------------------------------

    def submit(self, item: Inbound) -> None:
        """Queue an inbound message (never blocks; called from the MQTT receive path)."""
        if isinstance(item, HeartbeatIn) and item.delivery is None:
            self._hold_heartbeat(item)
            return
        button = getattr(item, "button", None)
        if button is not None:
            self._release_heartbeat(button)
        self._put(item)

    def _release_heartbeat(self, button: str) -> None:
        """Queue the button's held heartbeat now, so that it keeps its place before what comes."""
        if (held := self._heartbeats.pop(button, None)) is not None:
            self._put(held)

    def _hold_heartbeat(self, item: HeartbeatIn) -> None:
        """Keep the button's latest heartbeat until the next flush (see the module's doc)."""
        if item.button not in self._heartbeats:
            if len(self._heartbeats) >= HEARTBEAT_BACKLOG_LIMIT:
                self._metrics.heartbeats_dropped.inc()
                return
            if self._heartbeat_timer is None:
                self._heartbeat_timer = asyncio.get_running_loop().call_later(
                    self._heartbeat_flush_s, self._put, _FLUSH_HEARTBEATS
                )
        self._heartbeats[item.button] = item

    @property
    def closed(self) -> bool:
        """The pipeline is stopping or stopped: commands are refused."""
        return self._closed

    async def execute(self, command: Command) -> Any:
        """Plan and commit one command; return its result or raise its `ChuongError`."""
        if self._closed:
            raise ChuongError("the hub is stopping; try again")
        for button in command.heard_from():
            self._release_heartbeat(button)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._put(_Pending(command, future))
        return await future

    async def quiet(self, limit_s: float) -> None:
        """Let the loop run, then wait until the writer has nothing to do (nothing queued, no
        batch under way), for at most `limit_s`: periodic work on the loop (the supervisor's
        review) goes on in the writer's idle moments, not while a press is on its way."""
        await asyncio.sleep(0)
        if not self._waiting.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._waiting.wait(), limit_s)

    def _put(self, item: Item | _Stop | _FlushHeartbeats) -> None:
        """Queue for the writer, which has something to do from now on (see `quiet`)."""
        self._waiting.clear()
        self._queue.put_nowait(item)

    def alive(self, stall_s: float) -> bool:
        """The writer is running and has done something (committed, probed or retried) lately."""
        task = self._task
        return (
            task is not None
            and not task.done()
            and self._clock.monotonic() - self._last_activity < stall_s
        )

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        self._data_version = await self.store.data_version()
        self._last_commit = self._last_activity = self._clock.monotonic()
        self._metrics.store_writable.set(1)
        self._metrics.watch_alarms(self._open_counts)
        self._task = asyncio.create_task(self._run(), name="pipeline-writer")

    async def stop(self) -> None:
        """Commit and acknowledge everything already queued, then stop."""
        if self._task is None:
            return
        self._put(_STOP)
        try:
            await self._task
        finally:
            self._task = None

    def abandon(self) -> None:
        """Stop retrying a failing commit (on a forced shutdown); unacked messages stay with
        the broker, which delivers them again to the next hub."""
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
        if self._task is not None:
            self._task.cancel()

    # -- the writer task ---------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while await self._next_batch():
                pass
        finally:
            self._closed = True  # from now on a command is refused at once, not left waiting
            self._refuse_leftovers()

    async def _next_batch(self) -> bool:
        """Take what is waiting, process it; False once the stop marker is reached."""
        if self._upkeep and (self._queue.empty() or self._overtaken >= UPKEEP_OVERTAKEN_MAX):
            self._overtaken = 0
            await self._process([self._upkeep.popleft()])
            return True
        first = await self._take_first()
        if isinstance(first, _Stop):
            await self._stop_now()
            return False
        if isinstance(first, _FlushHeartbeats):
            await self._commit_heartbeats()
            self._overtook()
            return True
        batch: list[Item] = []
        self._add(batch, first)
        going_on = True
        flush_after = False
        while len(batch) < self._batch_max and not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, _Stop):
                going_on = False
                break
            if isinstance(item, _FlushHeartbeats):
                flush_after = True
                break
            self._add(batch, item)
        self._metrics.pipeline_backlog.set(self._queue.qsize())
        if batch:
            await self._process(batch, taken=self._clock.monotonic())
            self._overtook()
        if not going_on:
            await self._stop_now()
            return False
        if flush_after:
            await self._commit_heartbeats()
        if self._clock.monotonic() - self._last_commit > self._probe_interval_s:
            await self._process([self._probe()])
        return True

    def _overtook(self) -> None:
        """A batch went ahead of the upkeep waiting (presses, or a flush of heartbeats: a large
        fleet's keep the queue from ever being empty, and would otherwise starve supervision)."""
        if self._upkeep:
            self._overtaken += 1

    async def _take_first(self) -> Item | _Stop | _FlushHeartbeats:
        """The next thing queued, waiting for it (a probe of the store if none comes)."""
        if self._queue.empty():
            self._waiting.set()
        try:
            return await asyncio.wait_for(self._queue.get(), self._probe_interval_s)
        except TimeoutError:
            return self._probe()
        finally:
            self._waiting.clear()

    def _add(self, batch: list[Item], item: Item) -> None:
        """Add to the batch, but set an upkeep command aside for a batch of its own."""
        if isinstance(item, _Pending) and item.command.upkeep:
            self._upkeep.append(item)
        else:
            batch.append(item)

    async def _stop_now(self) -> None:
        """At the stop marker: upkeep commands queued before it are committed, each alone, and
        held heartbeats. Messages that arrived after the stop was asked for stay unacknowledged
        (see `_refuse_leftovers`)."""
        while self._upkeep:
            await self._process([self._upkeep.popleft()])
        await self._commit_heartbeats(everything=True)

    def _probe(self) -> _Pending:
        return _Pending(ProbeStore(), asyncio.get_running_loop().create_future())

    def _refuse_leftovers(self) -> None:
        """After the stop: messages still queued stay unacknowledged (the broker delivers them
        again to the next hub); commands still queued are answered with an error, not left
        hanging."""
        for pending in self._upkeep:
            if not pending.future.done():
                pending.future.set_exception(ChuongError("the hub is stopping; try again"))
        self._upkeep.clear()
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if isinstance(item, _Pending) and not item.future.done():
                item.future.set_exception(ChuongError("the hub is stopping; try again"))

    async def _commit_heartbeats(self, *, everything: bool = False) -> None:
        """Commit up to `batch_max` held heartbeats; if more are held, their turn comes again
        behind whatever waits in the queue now (or at once, for `everything`, when stopping)."""
        while self._heartbeats:
            buttons = list(itertools.islice(self._heartbeats, self._batch_max))
            await self._process([self._heartbeats.pop(button) for button in buttons])
            if not everything:
                break
        if self._heartbeats:
            self._put(_FLUSH_HEARTBEATS)
        elif self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
            self._heartbeat_timer = None

    async def _process(self, batch: list[Item], taken: float | None = None) -> None:
        """Plan, commit and finish one batch; `taken`: when the writer took it from the queue
        (its presses' stages are timed, `chuong_press_stage_seconds`)."""
        try:
            plan = await self._plan(batch)
            planned = self._clock.monotonic()
            await self._commit(plan)
        except Exception as exc:
            if len(batch) > 1:
                log.exception(
                    "pipeline: a batch of %d failed; committing its items one by one", len(batch)
                )
                for item in batch:
                    await self._process([item])
                return
            await self._quarantine(batch[0], exc)
            return
        committed = self._clock.monotonic()
        acked = self._finish(batch, plan)
        if taken is not None:
            self._time_stages(batch, taken, planned, committed, acked)

    def _time_stages(
        self, batch: list[Item], taken: float, planned: float, committed: float, acked: float
    ) -> None:
        """Each press's time in each stage of the press path (see `hub.metrics.PRESS_STAGES`)."""
        presses = [item for item in batch if isinstance(item, PressIn)]
        if not presses:
            return
        done = self._clock.monotonic()
        now = self._clock.now()
        stage = self._stages
        shared = {
            "plan": planned - taken,
            "commit": committed - planned,
            "ack": acked - committed,
            "fanout": done - acked,
        }
        for press in presses:
            waited = max(0.0, (now - press.received_at).total_seconds() - (done - taken))
            stage["wait"].observe(waited)
            for name, seconds in shared.items():
                stage[name].observe(seconds)
            stage["total"].observe(waited + done - taken)

    async def _plan(self, batch: list[Item]) -> Plan:
        keys = [(i.button, i.event.id) for i in batch if isinstance(i, PressIn)]
        version, earlier = await self._retrying(functools.partial(self.store.before_plan, keys))
        if version != self._data_version:
            await self._retrying(functools.partial(self._reload_registry, version))
        plan = Plan(
            hub_id=self._hub_id,
            state=self.state,
            now=self._clock.now(),
            earlier=earlier,
            hooks=self._hooks,
            trouble_hooks=self._trouble_hooks,
            press_hooks=self._press_hooks,
            press_patterns=self._press_patterns,
        )
        for item in batch:
            if isinstance(item, _Pending):
                try:
                    item.result = item.command.plan(plan)
                except ChuongError as exc:
                    item.result = exc
            else:
                plan.inbound(item)
        return plan

    async def _retrying(self, read: Callable[[], Awaitable[T]]) -> T:
        """A read the plan needs, retried as a commit is while its error may pass (PostgreSQL
        restarting between two batches): failing, it would set the batch's presses aside as
        rejected and acknowledge them."""
        attempt = 0
        while True:
            try:
                return await read()
            except WRITE_ERRORS as exc:
                if not write_may_pass(exc):
                    raise
                attempt += 1
                await self._pause(exc, attempt, "read")

    async def _pause(self, exc: BaseException, attempt: int, what: str) -> None:
        """After a store error that may pass: unwritable, logged, and a wait before `attempt`."""
        self._mark_unwritable(exc)
        delay = self._retry.delay(attempt - 1)
        log.warning("store: %s failed (%s); retry %d in %.2fs", what, exc, attempt, delay)
        await asyncio.sleep(delay)

    async def _commit(self, plan: Plan) -> None:
        """Commit, retrying errors that may pass until they do (or the hub is stopped)."""
        attempt = 0
        while True:
            started = self._last_activity = self._clock.monotonic()
            try:
                statement = await self.store.commit(plan.changes) if plan.changes else None
            except WRITE_ERRORS as exc:
                if not write_may_pass(exc):
                    raise
                attempt += 1
                self._metrics.commit_failures.inc()
                await self._pause(exc, attempt, "commit")
                continue
            self._metrics.commit_latency.observe(self._clock.monotonic() - started)
            if statement is not None:
                self._metrics.commit_statement.observe(statement)
            self._last_commit = self._clock.monotonic()
            if not self.health.writable:
                await self._mark_writable()
            return

    def _finish(self, batch: list[Item], plan: Plan) -> float:
        """Apply a committed batch; return when its PUBACKs were written (monotonic)."""
        self.state.absorb(plan.draft)
        now = self._clock.now()
        acked = False
        for item in batch:
            if isinstance(item, _Pending):
                if not item.future.done():
                    if isinstance(item.result, BaseException):
                        item.future.set_exception(item.result)
                    else:
                        item.future.set_result(item.result)
            else:
                if item.delivery is not None:
                    self._acker.ack(item.delivery)
                    acked = True
                if not isinstance(item, HeartbeatIn):  # those wait on purpose
                    self._metrics.ingest_latency.observe(
                        max(0.0, (now - item.received_at).total_seconds())
                    )
        if acked:
            self._acker.flush()  # the PUBACKs leave before the fan-out's publications queue
        flushed = self._clock.monotonic()
        for event in plan.events:
            self._bus.publish(event)
        self._count(plan, len(batch))
        return flushed

    def _count(self, plan: Plan, size: int) -> None:
        m = self._metrics
        m.batch_size.observe(size)
        for (kind, label), count in plan.counts.items():
            match kind:
                case Count.PRESS:
                    m.presses.labels(label).inc(count)
                case Count.EVENT:
                    m.button_events.labels(label).inc(count)
                case Count.RAISED:
                    m.alarms_raised.labels(label).inc(count)
                case Count.REJECTED:
                    m.rejected.labels(label).inc(count)
                case Count.IGNORED:
                    m.ignored.labels(label).inc(count)
                case Count.DUPLICATE:
                    m.duplicates.inc(count)
                case Count.UNTRACKED:
                    m.untracked_devices.inc(count)
                case _:
                    assert_never(kind)
        self._count_events(plan)

    def _count_events(self, plan: Plan) -> None:
        m = self._metrics
        for event in plan.events:
            if not isinstance(event, AlarmChanged):
                continue
            alarm = event.alarm
            if event.change is AlarmChange.ACKNOWLEDGED and alarm.acknowledged_at is not None:
                m.ack_latency.observe((alarm.acknowledged_at - alarm.raised_at).total_seconds())
            elif event.change is AlarmChange.RESOLVED and alarm.outcome is not None:
                m.alarms_resolved.labels(alarm.outcome.value).inc()

    async def _quarantine(self, item: Item, exc: Exception) -> None:
        """One item that cannot be processed: keep it on record and go on."""
        log.error("pipeline: cannot process %r; kept as rejected", item, exc_info=exc)
        if isinstance(item, _Pending):
            if not item.future.done():
                item.future.set_exception(ChuongError("internal error; see the hub's log"))
            return
        plan = Plan(hub_id=self._hub_id, state=self.state, now=self._clock.now(), earlier={})
        payload = repr(item).encode("utf-8", "replace")
        button = getattr(item, "button", None)
        plan.changes.add_rejected(
            iso(item.received_at),
            getattr(item, "topic", "") or f"(button {button})",
            payload,
            "internal_error",
            "the hub failed to process this message; see its log",
            button,
        )
        plan.raise_trouble(
            TroubleKind.INTERNAL_ERROR,
            "hub",
            detail=f"a message from {button} could not be processed",
        )
        self._metrics.quarantined.inc()
        try:
            await self._commit(plan)
        except Exception:
            log.exception("pipeline: could not even record the quarantined item")
            return
        self._finish([item], plan)

    # -- helpers -----------------------------------------------------------------------------------

    async def _reload_registry(self, version: int) -> None:
        """Another process (the command line) changed the store: the registry is read again.
        A store error that may pass is raised (`_retrying` tries again, and the version stays
        old until a reload succeeds). A registry the hub cannot read (a row another version of
        the command line wrote, an edit by hand) must not fail the batch: its presses would be
        set aside as rejected and acknowledged, with no alarm. The batch is planned on the
        registry the hub has, and the error logged, once for this version of the store."""
        try:
            registry = await self.store.load_registry()
        except WRITE_ERRORS:
            raise
        except Exception:
            self._data_version = version
            log.exception(
                "registry: the changed registry cannot be read; the hub goes on with the one it"
                " has (%d sites, %d buttons) until the next change",
                len(self.state.registry.sites),
                len(self.state.registry.buttons),
            )
            return
        self.state.registry = registry
        self._data_version = version
        log.info(
            "registry: reloaded (%d sites, %d buttons)",
            len(self.state.registry.sites),
            len(self.state.registry.buttons),
        )

    def _mark_unwritable(self, exc: BaseException) -> None:
        if self.health.writable:
            log.error("store: cannot commit: %s; holding acknowledgements until it can", exc)
            self.health.since = self._clock.now()
        self.health.writable = False
        self.health.error = str(exc) or type(exc).__name__
        self._metrics.store_writable.set(0)

    async def _mark_writable(self) -> None:
        log.warning("store: commits succeed again after failing since %s", self.health.since)
        since = self.health.since
        error = self.health.error
        self.health = StoreHealth()
        self._metrics.store_writable.set(1)
        with contextlib.suppress(Exception):
            plan = Plan(hub_id=self._hub_id, state=self.state, now=self._clock.now(), earlier={})
            plan.audit(
                "store.recovered", "hub", failing_since=iso(since) if since else None, error=error
            )
            await self.store.commit(plan.changes)

    def _open_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for alarm in self.state.alarms.values():
            counts[alarm.state.value] = counts.get(alarm.state.value, 0) + 1
        return counts
