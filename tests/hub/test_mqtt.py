"""The MQTT adapter's pure parts, and its socket options on a real connection."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import pytest

from hub import mqtt as mqtt_module
from hub.clock import SystemClock
from hub.config import MqttSection
from hub.mqtt import Backoff, MqttAdapter
from simulator.broker import free_port
from tests.conftest import RunningHub


@pytest.mark.parametrize("seed", range(20))
def test_backoff_doubles_with_jitter_up_to_the_maximum(seed: int) -> None:
    """Each delay lies in [base/2, base], base doubling from the minimum up to the maximum, so
    that many hubs (or buttons) do not reconnect in step; reset starts over."""
    import random

    random.seed(seed)
    backoff = Backoff(0.5, 8.0)
    bases = [0.5, 1, 2, 4, 8, 8, 8]
    delays = [backoff.next() for _ in bases]
    for delay, base in zip(delays, bases, strict=True):
        assert base / 2 <= delay <= base
    backoff.reset()
    assert 0.25 <= backoff.next() <= 0.5


def test_jitter_spreads_the_delays() -> None:
    """Twenty backoffs at the same step do not all wait the same time."""
    delays = {round(Backoff(1.0, 30.0).next(), 6) for _ in range(20)}
    assert len(delays) > 10


async def test_the_hub_sets_tcp_nodelay_on_its_broker_socket(
    start_hub: Callable[..., Awaitable[RunningHub]],
) -> None:
    """Nagle's algorithm is off on the hub's connection (it would hold small packets ~40 ms)."""
    running = await start_hub()
    adapter = running.hub.mqtt
    assert adapter is not None
    sock = adapter._sock  # the live socket, to read its options
    assert isinstance(sock, socket.socket)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


async def test_a_publication_beyond_the_outgoing_limit_is_counted_not_silently_lost(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """While the broker is away, QoS 1 publications wait in paho, up to the limit (60,000 in
    the hub, 3 here); one more is refused by paho, and the adapter counts and logs it."""
    monkeypatch.setattr(mqtt_module, "OUTGOING_LIMIT", 3)
    dropped: list[None] = []
    adapter = MqttAdapter(
        MqttSection(port=free_port(), reconnect_min_s=0.1, reconnect_max_s=0.2),
        client_id="limit-test",
        status_topic="chuong/v1/hub/limit-test/status",
        version="test",
        subscriptions=[],
        clock=SystemClock(),
        on_message=lambda message: None,
        on_connected=lambda session_present: None,
        on_disconnected=lambda why: None,
        on_publication_dropped=lambda: dropped.append(None),
    )
    await adapter.start()
    try:
        for n in range(5):
            adapter.publish(f"chuong/v1/alarms/post-{n}", b"{}", qos=1, retain=True)
    finally:
        await adapter.stop()
    assert len(dropped) == 2
    assert "dropped the one on chuong/v1/alarms/post-3" in caplog.text
