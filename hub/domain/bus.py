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
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.overflowed = False

    def _offer(self, event: Event) -> None:
        if self.overflowed:
            return
        try:
            self._queue.put_nowait(event)
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
        return await asyncio.wait_for(self._queue.get(), timeout)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while (event := await self._queue.get()) is not None:
            yield event


class Bus:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def unsubscribe(self, handler: Handler) -> None:
        if handler in self._handlers:
            self._handlers.remove(handler)

    def queue(self, maxsize: int = 1000) -> EventQueue:
        subscription = EventQueue(self, maxsize)
        self.subscribe(subscription._offer)  # the subscription's own hook
        return subscription

    def publish(self, event: Event) -> None:
        for handler in tuple(self._handlers):
            try:
                handler(event)
            except Exception:
                log.exception("bus: a subscriber failed on %s", type(event).__name__)
