"""The in-process event bus: what happened, after it was committed.

The pipeline publishes an event only after the change it describes is durable. Subscribers are
plain callables that must not block (they enqueue or hand off); a subscriber that raises is logged
and does not stop the others. `Bus.queue()` gives a bounded async iterator for consumers that may
fall behind, such as a browser on the live stream: when its queue overflows it is cut off (and
told so) rather than slowing the hub down.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from hub.domain.model import AckState, Alarm, AlarmChange, DeviceState, Trouble

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AlarmChanged:
    alarm: Alarm
    change: AlarmChange
    actor: str


@dataclass(frozen=True, slots=True)
class ButtonAck:
    """Tell a button what became of its event (its `ack` topic: docs/CONTRACT.md, "MQTT")."""

    button: str
    event_id: str
    alarm_id: str
    state: AckState


@dataclass(frozen=True, slots=True)
class DeviceChanged:
    device: DeviceState


@dataclass(frozen=True, slots=True)
class TroubleChanged:
    trouble: Trouble


@dataclass(frozen=True, slots=True)
class BrokerConnected:
    session_present: bool


@dataclass(frozen=True, slots=True)
class BrokerDisconnected:
    reason: str


Event = (
    AlarmChanged | ButtonAck | DeviceChanged | TroubleChanged | BrokerConnected | BrokerDisconnected
)
Handler = Callable[[Event], None]


class EventQueue:
    """A bounded queue of events (`Bus.queue()`); iterating ends when it overflowed or was
    closed. Not to be confused with `hub.broker.mqtt.Subscription`, a topic filter."""

    def __init__(self, bus: Bus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[tuple[int, Event] | None] = asyncio.Queue(maxsize)
        self.overflowed = False

    def _offer(self, event: Event) -> None:
        if self.overflowed:
            return
        try:
            self._queue.put_nowait((self._bus.seq, event))  # published just now: its number
        except asyncio.QueueFull:
            self.overflowed = True
            self._bus.unsubscribe(self._offer)
            self._queue.get_nowait()  # make room for the end marker
            self._queue.put_nowait(None)

    def close(self) -> None:
        self._bus.unsubscribe(self._offer)
        if not self.overflowed and not self._queue.full():
            self._queue.put_nowait(None)

    async def get(self, timeout: float | None = None) -> Event | None:
        """The next event; None at the end. Raises TimeoutError after `timeout` seconds."""
        item = await asyncio.wait_for(self._queue.get(), timeout)
        return None if item is None else item[1]

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        async for _, event in self.numbered():
            yield event

    async def numbered(self) -> AsyncIterator[tuple[int, Event]]:
        """The events with their numbers on the bus (see `Bus.since`)."""
        while (item := await self._queue.get()) is not None:
            yield item


class Bus:
    """Every event published gets a number, increasing for the life of the bus; the latest `keep`
    are kept, so a live stream that reconnects can be given what it missed (`since`)."""

    def __init__(self, keep: int = 1000) -> None:
        self._handlers: list[Handler] = []
        self._queues: weakref.WeakSet[EventQueue] = weakref.WeakSet()
        self._recent: deque[tuple[int, Event]] = deque(maxlen=keep)
        self.seq = 0
        """the number of the latest event published"""
        self.run = secrets.token_hex(4)
        """names this numbering: a restarted hub numbers from 1 again, under another name"""

    def since(self, seq: int) -> list[tuple[int, Event]] | None:
        """The events published after number `seq`, or None when they cannot all be told (some
        are no longer kept, or `seq` was never published by this bus)."""
        if not 0 <= seq <= self.seq:
            return None
        missed = [(n, event) for n, event in self._recent if n > seq]
        oldest_kept = self._recent[0][0] if self._recent else self.seq + 1
        if seq < self.seq and oldest_kept > seq + 1:
            return None
        return missed

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def unsubscribe(self, handler: Handler) -> None:
        if handler in self._handlers:
            self._handlers.remove(handler)

    def queue(self, maxsize: int = 1000) -> EventQueue:
        subscription = EventQueue(self, maxsize)
        self.subscribe(subscription._offer)  # the subscription's own hook
        self._queues.add(subscription)
        return subscription

    def end_queues(self) -> None:
        """End every queue's iteration: the hub is stopping, and its live streams end cleanly
        instead of being cut off."""
        for subscription in list(self._queues):
            subscription.close()

    def publish(self, event: Event) -> None:
        self.seq += 1
        self._recent.append((self.seq, event))
        for handler in tuple(self._handlers):
            try:
                handler(event)
            except Exception:
                log.exception("bus: a subscriber failed on %s", type(event).__name__)
