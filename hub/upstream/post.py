"""The post's side of the link: every alarm change into the `upstream` table with the change
itself, and a sender that delivers them to the district until it acknowledges each.

Why its own MQTT connection and not a Mosquitto bridge: the bridge's queue lives in the broker,
which can lose it on a restart (Debian's 2.0.11 in some settings; fixed in 2.0.15, itself
reported to regress) and drops what is beyond its queue limit; a change then never reaches the
district and nobody knows. Here the queue is the hub's store: a change is a row before it is a
message, and stays one until the district says it has it (docs/DISTRICT.md, "Why the hub's own
connection, not a Mosquitto bridge"; docs/FACTS.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Final

from hub import __version__
from hub.broker.mqtt import MqttAdapter, MqttMessage, Subscription
from hub.clock import Clock, iso
from hub.config import Config, MqttSection, UpstreamSection
from hub.domain.bus import AlarmChanged, Bus, Event
from hub.domain.model import Alarm, AlarmChange, TroubleKind
from hub.domain.views import AlarmView
from hub.errors import ChuongError
from hub.metrics import Metrics
from hub.store import Store
from hub.store.ops import MarkUpstreamAcked, QueueUpstream, UpstreamRow
from hub.upstream.wire import AckMessage, UpTopics
from hub.writer.commands import ClearTrouble, RaiseTrouble
from hub.writer.pipeline import Pipeline
from hub.writer.plan import Command, Plan

log = logging.getLogger(__name__)

POLL_S: Final = 1.0
MARK_MAX: Final = 500
"""acknowledged rows marked in one command, at most (one statement, one parameter each)"""
RESEND_MAX: Final = 16
"""A row not acknowledged is sent again after `resend_s`, then twice that, up to this many
times `resend_s`."""
"""The sender looks at the table at least this often (it is woken at once by each change)."""


def send_now(
    sent: tuple[float, float] | None, now: float, resend_s: float, may_resend: bool
) -> tuple[float, float] | None:
    """Whether a pending row goes now: its new (sent at, wait before the next copy), or None.

    A row never sent goes at once. A copy goes again only when `may_resend` (the broker has taken
    every copy before) and its wait is over; each wait doubles, up to `RESEND_MAX` x `resend_s`.
    """
    if sent is None:
        return now, resend_s
    sent_at, wait = sent
    if not may_resend or now - sent_at < wait:
        return None
    return now, min(wait * 2, resend_s * RESEND_MAX)


class UpstreamHook:
    """The `AlarmHook` that queues every alarm change for the district, in its transaction."""

    def on_alarm(self, plan: Plan, old: Alarm | None, new: Alarm, change: AlarmChange) -> None:
        actor = None
        if plan.events and isinstance(last := plan.events[-1], AlarmChanged):
            actor = last.actor  # `save_alarm` publishes the change just before calling its hooks
        body = {"alarm": AlarmView.of(new).model_dump(mode="json"), "actor": actor, "at": None}
        body["at"] = iso(new.updated_at)
        plan.write(QueueUpstream(new.id, change.value, body, plan.now))


class MarkAcked(Command):
    def __init__(self, seqs: tuple[int, ...]) -> None:
        self.seqs = seqs

    def plan(self, plan: Plan) -> None:
        plan.write(MarkUpstreamAcked(self.seqs, plan.now))


def link_settings(up: UpstreamSection) -> MqttSection:
    """The upstream link as the MQTT adapter's settings."""
    return MqttSection(
        host=up.host,
        port=up.port,
        root=up.root,
        username=up.username,
        password=up.secret(),
        tls=up.tls,
        ca_file=up.ca_file,
        cert_file=up.cert_file,
        key_file=up.key_file,
        reconnect_min_s=up.reconnect_min_s,
        reconnect_max_s=up.reconnect_max_s,
        session_expiry_s=up.session_expiry_s,
    )


class UpstreamSender:
    """Sends the pending rows in their order over its own connection; each again after
    `resend_s` (and at once after a reconnection) until the district's ack names it."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        pipeline: Pipeline,
        bus: Bus,
        clock: Clock,
        metrics: Metrics,
        broker_connected: Callable[[], bool],
    ) -> None:
        assert config.upstream is not None
        self._up = config.upstream
        self._hub = config.hub
        self._store = store
        self._pipeline = pipeline
        self._bus = bus
        self._clock = clock
        self._metrics = metrics
        self._broker_connected = broker_connected
        self._topics = UpTopics(self._up.root)
        self._sent: dict[int, tuple[float, float]] = {}
        """seq -> (when last sent, the wait before sending it again)"""
        self._confirmed: set[int] = set()
        """acknowledged by the district, not yet marked in the store"""
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._down_since: float | None = clock.monotonic()
        """since when the link is down (None while connected); from the start until connected"""
        self._down_reason = "not connected yet"
        self._lost = False
        """an `upstream_lost` trouble is open"""
        self._tasks: list[asyncio.Task[None]] = []
        self.pending = 0
        self.link = MqttAdapter(
            link_settings(self._up),
            client_id=f"chuong-up-{self._hub.id}",
            status_topic=self._topics.of(self._hub.id, "status"),
            version=__version__,
            subscriptions=[Subscription(self._topics.of(self._hub.id, "ack"), 1)],
            clock=clock,
            on_message=self._on_message,
            on_connected=self._on_connected,
            on_disconnected=self._on_disconnected,
        )

    async def start(self) -> None:
        self._lost = (TroubleKind.UPSTREAM_LOST, "hub") in self._pipeline.state.troubles
        self._bus.subscribe(self._on_event)
        await self.link.start()
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="upstream-sender"),
            asyncio.create_task(self._heartbeat_loop(), name="upstream-heartbeat"),
        ]

    async def stop(self) -> None:
        self._bus.unsubscribe(self._on_event)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(ChuongError):
            await self._mark()
        await self.link.stop()

    # -- callbacks (on the loop; never block) -----------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, AlarmChanged):
            self._wake.set()

    def _on_disconnected(self, reason: str) -> None:
        self._metrics.upstream_connected.set(0)
        if self._down_since is None:
            self._down_since = self._clock.monotonic()
        self._down_reason = reason

    def _on_connected(self, session_present: bool) -> None:
        self._metrics.upstream_connected.set(1)
        self._down_since = None
        self._wake.set()  # what the client still holds it sends again itself; the rest follows
        self._connected.set()

    def _on_message(self, message: MqttMessage) -> None:
        if message.delivery is not None:
            self.link.ack(message.delivery)  # an ack lost here only means a resend, deduplicated
        try:
            ack = AckMessage.model_validate_json(message.payload)
        except ValueError:
            log.warning("upstream: an ack that is not one on %s: ignored", message.topic)
            return
        for seq in ack.seqs:
            self._sent.pop(seq, None)
            self._confirmed.add(seq)
        self._wake.set()

    # -- the loops --------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            self._wake.clear()
            try:
                await self._mark()
                await self._watch_link()
                await self._send()
            except ChuongError as exc:
                log.warning("upstream: %s; trying again", exc)
            except Exception:
                log.exception("upstream: the sender failed; trying again")

    async def _watch_link(self) -> None:
        """The post's officer knows when the district cannot see the post's alarms."""
        down = self._down_since
        if down is None and self._lost:
            await self._pipeline.execute(
                ClearTrouble(TroubleKind.UPSTREAM_LOST, "hub", "the district is reached again")
            )
            self._lost = False
        elif (
            down is not None
            and not self._lost
            and self._clock.monotonic() - down > self._up.lost_after_s
        ):
            detail = (
                f"the district's broker {self._up.host}:{self._up.port} has not been reached "
                f"for {self._up.lost_after_s:.0f} s ({self._down_reason}); the alarms wait here "
                "and go up when it is back"
            )
            await self._pipeline.execute(RaiseTrouble(TroubleKind.UPSTREAM_LOST, "hub", detail))
            self._lost = True

    async def _mark(self) -> None:
        if not self._confirmed:
            return
        seqs = tuple(sorted(self._confirmed))[:MARK_MAX]
        await self._pipeline.execute(MarkAcked(seqs))
        self._confirmed.difference_update(seqs)
        self._metrics.upstream_acknowledged.inc(len(seqs))

    async def _send(self) -> None:
        rows = await self._store.upstream_pending(self._up.window + len(self._confirmed))
        rows = [r for r in rows if r.seq not in self._confirmed][: self._up.window]
        self.pending = len(rows)
        self._metrics.upstream_pending.set(self.pending)
        if not self.link.connected:
            return
        now = self._clock.monotonic()
        live = {r.seq for r in rows}
        for seq in [s for s in self._sent if s not in live]:
            del self._sent[seq]
        # Again only once the district's broker has taken every copy sent before (nothing waits
        # in the MQTT client's outbox), each row at most every `resend_s`, doubling up to
        # `RESEND_MAX`: a slow district is not buried under copies of what it is still working
        # through.
        may_resend = self.link.outgoing == 0
        topic = self._topics.of(self._hub.id, "change")
        for row in rows:
            due = send_now(self._sent.get(row.seq), now, self._up.resend_s, may_resend)
            if due is not None:
                self.link.publish(topic, self._message(row), qos=1)
                self._sent[row.seq] = due

    def _message(self, row: UpstreamRow) -> bytes:
        body = row.body
        return json.dumps(
            {
                "v": 1,
                "post": {"id": self._hub.id, "name": self._hub.name},
                "seq": row.seq,
                "change_seq": row.change_seq,
                "change": row.change,
                "actor": body.get("actor"),
                "at": body.get("at"),
                "alarm": body["alarm"],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()

    async def _heartbeat_loop(self) -> None:
        """A heartbeat every `heartbeat_s`, and one at once on every (re)connection: the
        district starts watching a post from its first heartbeat."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), self._up.heartbeat_s)
            self._connected.clear()
            try:
                if self.link.connected:
                    self.link.publish(
                        self._topics.of(self._hub.id, "heartbeat"), self._beat(), qos=1
                    )
            except Exception:
                log.exception("upstream: the heartbeat failed")

    def _beat(self) -> bytes:
        state = self._pipeline.state
        offline = sum(
            1
            for button in state.registry.buttons
            if (device := state.devices.get(button)) is not None and device.online is False
        )
        return json.dumps(
            {
                "v": 1,
                "post": {"id": self._hub.id, "name": self._hub.name},
                "at": iso(self._clock.now()),
                "period_s": self._up.heartbeat_s,
                "broker_connected": self._broker_connected(),
                "buttons_offline": offline,
                "open_alarms": len(state.alarms),
                "pending": self.pending,
                "version": __version__,
            },
            ensure_ascii=False,
        ).encode()
