"""The adapter's MQTT client against a real Mosquitto: packets split and coalesced by a proxy,
PUBACK only on `ack` and only on the same connection, resends after a reconnection, keepalive
against a stalled broker, and a refused login."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from hub.broker.mqtt import MqttMessage
from simulator.broker import Mosquitto
from tests.conftest import wait_for
from tests.hub.broker.adapters import make_adapter as _adapter
from tests.integration.supervision.conftest import RawClient


async def _chopping_proxy(target: int) -> asyncio.Server:
    """Forwards to the broker; sends what the broker answers in pieces of 1 to 9 bytes, now and
    then after a pause, so that the client reads packets cut anywhere."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chop: bool) -> None:
        step = 0
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if not chop:
                    writer.write(data)
                    await writer.drain()
                    continue
                at = 0
                while at < len(data):
                    step += 1
                    size = 1 + step % 9
                    writer.write(data[at : at + size])
                    at += size
                    if step % 50 == 0:
                        await writer.drain()
                        await asyncio.sleep(0.001)
                await writer.drain()
        writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        broker_r, broker_w = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pipe(client_r, broker_w, False), pipe(broker_r, client_w, True))

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_packets_cut_anywhere_and_coalesced_all_arrive(broker: Mosquitto) -> None:
    """500 presses queued for the hub's session while it is away arrive coalesced at the
    connection, cut in pieces of 1 to 9 bytes by a proxy: all 500 reach the handler, in order."""
    seen: list[MqttMessage] = []
    proxy = await _chopping_proxy(broker.port)
    port = proxy.sockets[0].getsockname()[1]
    adapter = _adapter(port, seen)
    await adapter.start()
    assert await adapter.wait_subscribed(10)
    await adapter.stop()
    publisher = RawClient(broker)
    await publisher.connect()
    for n in range(500):
        assert await publisher.publish(f"chuong/v1/dev/b-{n}/event", f"press {n}") < 0x80

    def take(message: MqttMessage) -> None:
        seen.append(message)
        if message.delivery is not None:  # the broker sends at most 100 before their PUBACKs
            again.ack(message.delivery)

    again = _adapter(port, [])
    again._on_message_cb = take
    await again.start()
    try:
        await wait_for(lambda: len(seen) >= 500, 30)
        assert [m.payload for m in seen] == [f"press {n}".encode() for n in range(500)]
        assert all(m.delivery is not None for m in seen)
    finally:
        await again.stop()
        publisher.close()
        proxy.close()


async def test_a_puback_goes_only_on_ack_and_only_on_the_connection_of_the_message(
    broker: Mosquitto,
) -> None:
    """A press not acked comes again after a reconnection; an ack from the earlier connection
    is dropped (it comes again once more); the ack on its own connection ends it."""
    seen: list[MqttMessage] = []
    adapter = _adapter(broker.port, seen)
    publisher = RawClient(broker)
    await adapter.start()
    try:
        assert await adapter.wait_subscribed(10)
        await publisher.connect()
        assert await publisher.publish("chuong/v1/dev/b-1/event", "press") < 0x80
        await wait_for(lambda: len(seen) == 1, 10)

        async def reconnect_and_receive(count: int) -> None:
            adapter.cut()
            await wait_for(lambda: not adapter.subscribed, 10)
            assert await adapter.wait_subscribed(10)
            await wait_for(lambda: len(seen) >= count, 10)

        await reconnect_and_receive(2)  # never acked: sent again
        stale = seen[0].delivery
        assert stale is not None
        adapter.ack(stale)  # from the first connection: dropped
        adapter.flush()
        await reconnect_and_receive(3)
        assert [m.payload for m in seen] == [b"press"] * 3
        current = seen[2].delivery
        assert current is not None
        adapter.ack(current)
        adapter.flush()
        await asyncio.sleep(0.3)
        adapter.cut()
        await wait_for(lambda: not adapter.subscribed, 10)
        assert await adapter.wait_subscribed(10)
        await asyncio.sleep(1.0)
        assert len(seen) == 3, "acked on its own connection: the broker does not send it again"
    finally:
        await adapter.stop()
        publisher.close()


async def test_publications_unacked_when_the_connection_drops_reach_subscribers_after_it(
    broker: Mosquitto,
) -> None:
    """The broker stalls (SIGSTOP) while the hub publishes 50 alarms; the connection is cut
    before any PUBACK; the broker comes back; the hub reconnects to its session and sends them
    again: a subscriber gets all 50."""
    watcher = RawClient(broker)
    await watcher.connect()
    await watcher.subscribe("chuong/v1/alarms/#")
    adapter = _adapter(broker.port, [])
    await adapter.start()
    assert broker.process is not None
    try:
        assert await adapter.wait_subscribed(10)
        broker.process.send_signal(signal.SIGSTOP)
        try:
            for n in range(50):
                adapter.publish(f"chuong/v1/alarms/post-{n}", f"alarm {n}", qos=1)
            adapter.flush()
            await asyncio.sleep(0.2)
            assert adapter.outgoing >= 50
            adapter.cut()
            await wait_for(lambda: not adapter.connected, 10)
        finally:
            broker.process.send_signal(signal.SIGCONT)
        await wait_for(lambda: adapter.outgoing == 0, 20)
        expected = {(f"chuong/v1/alarms/post-{n}", f"alarm {n}".encode()) for n in range(50)}
        await wait_for(lambda: expected <= set(watcher.received), 10)
    finally:
        await adapter.stop()
        watcher.close()


async def test_a_silent_broker_is_detected_by_keepalive(broker: Mosquitto) -> None:
    """A stopped broker (SIGSTOP) keeps the TCP connection open and answers nothing: after 1.5
    keepalive intervals (5 s here) the adapter closes the connection and says why."""
    errors: list[str] = []
    adapter = _adapter(broker.port, [], errors, keepalive_s=5)
    await adapter.start()
    assert broker.process is not None
    try:
        assert await adapter.wait_subscribed(10)
        broker.process.send_signal(signal.SIGSTOP)
        try:
            await wait_for(lambda: not adapter.connected, 20)
        finally:
            broker.process.send_signal(signal.SIGCONT)
        assert any("silent" in e for e in errors), errors
        assert adapter.last_error is not None
        assert await adapter.wait_subscribed(15), "it reconnects once the broker is back"
    finally:
        await adapter.stop()


async def test_a_refused_login_is_the_last_error(tmp_path: Path) -> None:
    """A broker that knows no user refuses the hub's login: `last_error` says so, with the
    broker's reason, and the adapter keeps trying."""
    password_file = tmp_path / "passwd"
    password_file.write_text("")
    broker = Mosquitto(tmp_path / "mosquitto", password_file=password_file).start()
    errors: list[str] = []
    adapter = _adapter(broker.port, [], errors, username="hub", password="wrong")
    await adapter.start()
    try:
        await wait_for(lambda: len(errors) >= 2, 10)
        assert adapter.last_error is not None
        assert "refused the connection" in adapter.last_error
        assert "Not authorized" in adapter.last_error or "Bad user" in adapter.last_error
        assert not adapter.connected
    finally:
        await adapter.stop()
        broker.kill()


async def test_a_live_message_published_retained_arrives_unflagged(broker: Mosquitto) -> None:
    """Retain As Published is off (mqtt5's default is on): a press published with the retain
    flag while the hub is subscribed arrives unflagged, as a live press; only the copy the broker
    retains comes flagged, to a new subscription (ingest ignores those as replays)."""
    seen: list[MqttMessage] = []
    adapter = _adapter(broker.port, seen)
    publisher = RawClient(broker)
    await adapter.start()
    try:
        assert await adapter.wait_subscribed(10)
        await publisher.connect()
        assert await publisher.publish("chuong/v1/dev/b-1/event", "live", retain=True) < 0x80
        await wait_for(lambda: len(seen) == 1, 10)
        assert seen[0].retain is False
    finally:
        await adapter.stop()
        publisher.close()


async def test_a_publication_larger_than_the_broker_takes_is_dropped_not_sent(
    tmp_path: Path,
) -> None:
    """The shipped broker takes packets of 8,192 bytes at most and closes the connection of a
    client that sends a larger one; resent first after every reconnection, one such alarm would
    keep the hub off the broker for good. It is dropped (and counted) instead: the connection
    stays up, what was published after it arrives, and a press is received and acknowledged."""
    broker = Mosquitto(tmp_path / "mosquitto", shipped=True).start()
    seen: list[MqttMessage] = []
    errors: list[str] = []
    adapter = _adapter(broker.port, seen, errors)
    too_large: list[None] = []
    adapter._on_publication_too_large = lambda: too_large.append(None)  # what the hub counts
    watcher = RawClient(broker)
    publisher = RawClient(broker)
    await adapter.start()
    try:
        assert await adapter.wait_subscribed(10)
        await watcher.connect()
        await watcher.subscribe("chuong/v1/alarms/#")
        adapter.publish("chuong/v1/alarms/big", b"x" * 10_000, qos=1, retain=True)
        adapter.publish("chuong/v1/alarms/small", b"ok", qos=1, retain=True)
        adapter.publish("chuong/v1/alarms/big0", b"x" * 10_000, qos=0)
        await wait_for(lambda: [t for t, _ in watcher.received] == ["chuong/v1/alarms/small"], 10)
        assert len(too_large) == 2
        await publisher.connect()
        assert await publisher.publish("chuong/v1/dev/b-1/event", "press") < 0x80
        await wait_for(lambda: len(seen) == 1, 10)
        delivery = seen[0].delivery
        assert delivery is not None
        adapter.ack(delivery)
        adapter.flush()
        await asyncio.sleep(1.0)
        assert errors == []
        assert adapter.connected
        assert adapter.outgoing == 0
    finally:
        await adapter.stop()
        watcher.close()
        publisher.close()
        broker.kill()


async def test_a_failing_callback_of_the_hub_does_not_end_the_connection(broker: Mosquitto) -> None:
    """The hub's code runs on the connection's stack at CONNACK; an error in it is logged, not
    let into the connection (asyncio would close it, and the hub reconnect for ever)."""
    seen: list[MqttMessage] = []
    errors: list[str] = []
    adapter = _adapter(broker.port, seen, errors)
    connects: list[bool] = []

    def failing(session_present: bool) -> None:
        connects.append(session_present)
        raise RuntimeError("a bug in the hub")

    adapter._on_connected_cb = failing
    await adapter.start()
    try:
        assert await adapter.wait_subscribed(10)
        await asyncio.sleep(1.0)
        assert adapter.connected
        assert len(connects) == 1
        assert errors == []
    finally:
        await adapter.stop()
