"""The topic repair: the broker's retained alarm topics brought back in line with the store.

The live fan-out (hub/broker/fanout.py) publishes every change once. What keeps one from the broker:
the hub killed between a commit and its publication, the broker killed before it saved a retained
message, or the MQTT client's outgoing queue full after a long outage (a publication refused there
is dropped and counted). So after every (re)connection, and after any dropped publication once the
outgoing queue is low again, the repair

1. reads what the broker retains on `{root}/alarms/+` (`MqttAdapter.read_retained`: the hub
   reads its own alarm topics; the ACL lets it, `topic readwrite {root}/alarms/#`);
2. publishes again every open alarm whose retained copy is missing or differs from the state in
   memory (the store's), and clears every retained alarm that is not open (resolved meanwhile,
   however long ago);
3. publishes each open alarm's buttons' current ack again (not retained, cheap).

Only what differs is published: with the shipped Mosquitto settings the broker saves its database
after every retained change, so it takes retained messages slowly (about a hundred a second on a
small machine), and publishing 3,000 unchanged alarms again would keep new ones waiting behind
them. If the broker shows no retained alarm at all (it lost them all, or its ACL, written before
the hub read its alarm topics, lets the hub subscribe but hides every message: Mosquitto does
that), the repair publishes every open alarm and clears the alarms resolved since a day before
the last such repair the broker acknowledged completely (store meta `alarm_topics_repaired_at`).

It never holds up a press. It publishes in small batches (`BATCH` publications), each only once
the QoS 1 publications waiting for the broker have fallen to the low-water mark (`LOW_WATER`, at
most a quarter of the outgoing limit), and yields to the event loop between batches: the writer
commits and PUBACKs as usual, a PUBACK finds at most a few dozen of the repair's publications
ahead of it on the way to the broker, and a repair never fills the queue the live fan-out needs.
A new connection starts the repair over; a publication dropped meanwhile makes it run once more
afterwards.

Metrics: `chuong_alarm_topics_repaired_total{action}` counts the alarm topics published again
(`published`) and cleared (`cleared`) because the broker's copy differed, and
`chuong_alarm_topics_waiting` how many the current repair has still to publish.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from devices.topics import Topics
from hub.broker.fanout import Publisher, publish_acks, publish_alarm
from hub.clock import Clock, iso, parse_iso
from hub.domain.bus import BrokerConnected, Bus, Event
from hub.domain.model import Alarm
from hub.domain.state import HubState
from hub.domain.views import alarm_json
from hub.metrics import Metrics
from hub.store import Store
from hub.writer.commands import SetMeta
from hub.writer.plan import Command

log = logging.getLogger(__name__)

LOW_WATER: Final = 25
"""A batch is published only when at most this many publications wait for the broker."""
BATCH: Final = 25
"""Publications per batch. With the low-water mark, at most about 50 of the repair's publications
are ahead of a PUBACK in the broker's input: a broker that saves its database after every change
(the shipped setting) takes each of them slowly, and the PUBACK waits behind them there."""
POLL_S: Final = 0.01
"""How often a waiting repair looks at the outgoing queue."""
RECLEAR_WINDOW: Final = timedelta(days=1)
"""Alarms resolved this long before the last complete repair are cleared again too."""
SETTLE_S: Final = 60.0
"""After its last batch, how long a repair waits for the broker to acknowledge everything before
it records itself complete (if not, the next repair clears from the older mark)."""
REPAIRED_KEY: Final = "alarm_topics_repaired_at"
"""Store meta: when the last repair the broker acknowledged completely began."""


class Link(Publisher, Protocol):
    """What the repair needs of the broker adapter."""

    connected: bool
    outgoing_limit: int

    @property
    def outgoing(self) -> int: ...

    def read_retained(self, topic: str) -> asyncio.Future[bool]: ...


class TopicRepair:
    def __init__(
        self,
        *,
        bus: Bus,
        link: Link,
        topics: Topics,
        state: HubState,
        store: Store,
        clock: Clock,
        metrics: Metrics,
        execute: Callable[[Command], Awaitable[Any]],
    ) -> None:
        self._bus = bus
        self._link = link
        self._topics = topics
        self._state = state
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._execute = execute
        self._wanted = asyncio.Event()
        self._connection = 0
        self._task: asyncio.Task[None] | None = None
        self._prefix = topics.alarm("")
        self._held: dict[str, bytes] | None = None
        self.completed = 0
        """Repairs that published everything they meant to (for tests and the log)."""

    async def start(self) -> None:
        self._bus.subscribe(self._on_event)
        self._task = asyncio.create_task(self._run(), name="topic-repair")

    async def stop(self) -> None:
        self._bus.unsubscribe(self._on_event)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def publication_dropped(self) -> None:
        """A publication was refused by a full queue: repair once the queue is low again."""
        self._wanted.set()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, BrokerConnected):
            self._connection += 1
            self._wanted.set()

    @property
    def _low_water(self) -> int:
        return max(1, min(LOW_WATER, self._link.outgoing_limit // 4))

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self._repair()
            except Exception:
                log.exception("topic repair: failed; trying again")
                self._wanted.set()
                await asyncio.sleep(1.0)

    def seen(self, topic: str, payload: bytes, retain: bool) -> None:
        """A message on an alarm topic (what the broker retains, during a read)."""
        if self._held is None or not retain or not topic.startswith(self._prefix):
            return
        alarm_id = topic[len(self._prefix) :]
        if payload:
            self._held[alarm_id] = payload
        else:
            self._held.pop(alarm_id, None)

    async def _repair(self) -> None:
        connection = self._connection
        started = self._clock.now()
        if not await self._room(connection):
            return
        held = await self._read_retained()
        if connection != self._connection or not self._link.connected:
            return  # the next connection starts the repair over
        opened = list(self._state.alarms.values())
        publish, stale = await self._targets(held, opened, started)
        topics = publish + stale
        steps = [functools.partial(self._bring_in_line, a) for a in topics]
        steps += [functools.partial(self._resend_acks, a.id) for a in opened]
        self._metrics.alarm_topics_waiting.set(len(topics))
        queued = 0
        batch = max(1, min(BATCH, self._low_water))
        for done, step in enumerate(steps, 1):
            if queued >= batch:
                if not await self._room(connection):
                    return
                queued = 0
            queued += step()
            self._metrics.alarm_topics_waiting.set(max(0, len(topics) - done))
        self.completed += 1
        log.info(
            "topic repair: %d open alarms, %d published again, %d cleared, %d acks sent again",
            len(opened),
            len(publish),
            len(stale),
            sum(len(a.devices) for a in opened),
        )
        if not held and await self._settled(connection):
            await self._execute(SetMeta(REPAIRED_KEY, iso(started)))

    async def _targets(
        self, held: dict[str, bytes] | None, opened: list[Alarm], started: datetime
    ) -> tuple[list[str], list[str]]:
        """The alarms whose topic is published again, and those whose topic is cleared."""
        if held:
            publish = [a.id for a in opened if held.get(a.id) != alarm_json(a).encode()]
            return publish, [a for a in held if a not in self._state.alarms]
        # Unreadable, or read as empty (an ACL without read access reads so too).
        since = await self._clear_since(started)
        try:
            stale = [a.id for a in await self._store.resolved_since(since)]
        except Exception:  # the open alarms matter more: they go out all the same
            log.exception("topic repair: could not read the resolved alarms to clear them")
            stale = []
        log.log(
            logging.INFO if held is not None and not opened else logging.WARNING,
            "topic repair: the broker %s; publishing every open alarm, clearing those resolved"
            " since %s (if the hub cannot read its alarm topics, give it `topic readwrite %s#` in"
            " the broker's ACL)",
            "shows no retained alarm" if held is not None else "refused to show its alarms",
            since or "ever",
            self._prefix,
        )
        return [a.id for a in opened], stale

    def _resend_acks(self, alarm_id: str) -> int:
        alarm = self._state.alarms.get(alarm_id)
        return 0 if alarm is None else publish_acks(self._link, self._topics, alarm)

    async def _read_retained(self) -> dict[str, bytes] | None:
        """What the broker retains on the alarm topics: alarm id -> payload; None if unknown."""
        self._held = {}
        try:
            if not await self._link.read_retained(self._prefix + "+"):
                return None
            return self._held
        finally:
            self._held = None

    def _bring_in_line(self, alarm_id: str) -> int:
        """Publish an open alarm's current state, or clear the topic of one that is not open;
        returns the number of publications."""
        alarm = self._state.alarms.get(alarm_id)
        if alarm is None:
            self._link.publish(self._topics.alarm(alarm_id), b"", qos=1, retain=True)
            self._metrics.alarm_topics_repaired.labels("cleared").inc()
            return 1
        publish_alarm(self._link, self._topics, alarm)
        self._metrics.alarm_topics_repaired.labels("published").inc()
        return 1

    async def _clear_since(self, now: datetime) -> str:
        """From when resolved alarms are cleared again: a day before the last repair the broker
        acknowledged completely, or before now if that is earlier; "" (every one) if none was."""
        since = now - RECLEAR_WINDOW
        try:
            mark = await self._store.meta(REPAIRED_KEY)
        except Exception:
            log.exception("topic repair: could not read the last repair's time; clearing a day")
            return iso(since)
        if mark is None:
            return ""
        return iso(min(since, parse_iso(mark) - RECLEAR_WINDOW))

    async def _room(self, connection: int) -> bool:
        """Yield to the loop, then wait until the outgoing queue is at the low-water mark; False
        if a new connection began meanwhile (its own repair starts over)."""
        await asyncio.sleep(0)
        while not (self._link.connected and self._link.outgoing <= self._low_water):
            if connection != self._connection:
                return False
            await asyncio.sleep(POLL_S)
        return connection == self._connection

    async def _settled(self, connection: int) -> bool:
        """Wait until the broker has acknowledged every publication, on this connection."""
        deadline = self._clock.monotonic() + SETTLE_S
        while self._link.outgoing > 0 or not self._link.connected:
            if connection != self._connection or self._clock.monotonic() > deadline:
                return False
            if self._wanted.is_set():
                return False
            await asyncio.sleep(POLL_S)
        return connection == self._connection
