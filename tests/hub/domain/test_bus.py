"""Unit tests of hub/domain/bus.py: the in-process event bus and its bounded queues."""

from __future__ import annotations

import logging

import pytest

from hub.domain.bus import BrokerConnected, BrokerDisconnected, Bus, Event


def events(count: int) -> list[Event]:
    return [BrokerDisconnected(f"reason {n}") for n in range(count)]


def test_publish_reaches_handlers_in_subscription_order() -> None:
    """Each event goes to every handler, handlers in subscription order, events in publish order."""
    bus = Bus()
    seen: list[tuple[str, Event]] = []
    bus.subscribe(lambda e: seen.append(("first", e)))
    bus.subscribe(lambda e: seen.append(("second", e)))
    one, two = events(2)
    bus.publish(one)
    bus.publish(two)
    assert seen == [("first", one), ("second", one), ("first", two), ("second", two)]


def test_failing_handler_does_not_stop_others(caplog: pytest.LogCaptureFixture) -> None:
    """A handler that raises is logged; the handlers after it still get the event."""
    bus = Bus()
    seen: list[Event] = []

    def broken(_event: Event) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    event = BrokerConnected(session_present=False)
    with caplog.at_level(logging.ERROR, logger="hub.domain.bus"):
        bus.publish(event)
        bus.publish(event)
    assert seen == [event, event]
    assert len(caplog.records) == 2
    assert "BrokerConnected" in caplog.records[0].getMessage()
    assert caplog.records[0].exc_info is not None


def test_unsubscribe_stops_delivery() -> None:
    """An unsubscribed handler gets no more events; unsubscribing twice is harmless."""
    bus = Bus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    bus.publish(BrokerConnected(True))
    bus.unsubscribe(seen.append)
    bus.unsubscribe(seen.append)
    bus.publish(BrokerConnected(False))
    assert seen == [BrokerConnected(True)]


def test_handler_may_unsubscribe_during_publish() -> None:
    """A handler removing itself while an event is published does not skip the next handler."""
    bus = Bus()
    seen: list[str] = []

    def once(_event: Event) -> None:
        seen.append("once")
        bus.unsubscribe(once)

    bus.subscribe(once)
    bus.subscribe(lambda _e: seen.append("always"))
    bus.publish(BrokerConnected(True))
    bus.publish(BrokerConnected(True))
    assert seen == ["once", "always", "always"]


async def test_queue_delivers_in_order_and_close_ends_iteration() -> None:
    """A queue subscriber gets the events in order; after close its iteration ends."""
    bus = Bus()
    subscription = bus.queue(maxsize=10)
    published = events(3)
    for event in published:
        bus.publish(event)
    subscription.close()
    bus.publish(BrokerConnected(True))  # after close: not delivered
    received = [event async for event in subscription]
    assert received == published
    assert subscription.overflowed is False


async def test_queue_get_returns_next_event_then_none_after_close() -> None:
    """get() returns queued events, then None once the subscription is closed."""
    bus = Bus()
    subscription = bus.queue(maxsize=5)
    bus.publish(BrokerConnected(True))
    assert await subscription.get(timeout=1) == BrokerConnected(True)
    subscription.close()
    assert await subscription.get(timeout=1) is None


async def test_queue_get_times_out_when_empty() -> None:
    """get() on an empty, open subscription raises TimeoutError when its timeout passes."""
    subscription = Bus().queue(maxsize=5)
    with pytest.raises(TimeoutError):
        await subscription.get(timeout=0)


async def test_queue_overflow_ends_iteration_and_unsubscribes() -> None:
    """A queue that overflows is cut off: marked overflowed, unsubscribed, its iteration ends."""
    bus = Bus()
    others: list[Event] = []
    subscription = bus.queue(maxsize=2)
    bus.subscribe(others.append)
    published = events(5)
    for event in published:
        bus.publish(event)

    assert subscription.overflowed is True
    # The bus no longer holds the subscription's hook (only the other handler is left).
    assert bus._handlers == [others.append]
    received = [event async for event in subscription]
    assert len(received) <= 2
    assert received == [event for event in published[:3] if event in received]
    assert others == published


async def test_overflowed_queue_close_is_harmless() -> None:
    """Closing a subscription that already overflowed adds nothing and does not raise."""
    bus = Bus()
    subscription = bus.queue(maxsize=1)
    for event in events(3):
        bus.publish(event)
    subscription.close()
    received = [event async for event in subscription]
    assert received == []
    assert subscription.overflowed is True


async def test_queues_are_independent() -> None:
    """One slow subscriber overflowing does not cut off another with room."""
    bus = Bus()
    small = bus.queue(maxsize=1)
    large = bus.queue(maxsize=10)
    published = events(3)
    for event in published:
        bus.publish(event)
    large.close()
    assert small.overflowed is True
    assert large.overflowed is False
    assert [event async for event in large] == published


async def test_events_are_numbered_and_the_missed_ones_can_be_told() -> None:
    """Each event gets the next number; `since(n)` gives the events after n while they are all
    kept, and None when some are gone or n was never published."""
    bus = Bus(keep=3)
    subscription = bus.queue(maxsize=10)
    published = events(5)
    for event in published:
        bus.publish(event)
    subscription.close()
    assert [n async for n, _ in subscription.numbered()] == [1, 2, 3, 4, 5]
    assert bus.since(5) == []
    assert bus.since(3) == [(4, published[3]), (5, published[4])]
    assert bus.since(2) == [(3, published[2]), (4, published[3]), (5, published[4])]
    assert bus.since(1) is None  # event 2 is no longer kept
    assert bus.since(6) is None  # from another run of the hub
    assert Bus().since(0) == []
