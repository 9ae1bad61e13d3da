"""The hub's MQTT connection (hub/broker/wire.py) on its own: framing of partial and coalesced
packets, malformed input, the outbox's packet ids and resends; and the adapter against a small
fake broker on loopback that sends what Mosquitto never would."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import mqtt5
import pytest

from hub.broker.mqtt import MqttMessage
from hub.broker.wire import Connection, MalformedPacket, Outbox, frame_length, raw_publish
from tests.conftest import wait_for
from tests.hub.broker.adapters import make_adapter

AT_LEAST_ONCE = mqtt5.QoS.AT_LEAST_ONCE


@dataclass
class Recorder:
    """A wire.Handler that records what the connection tells it."""

    published: list[tuple[str, bytes, int, bool, int | None, bool]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    too_large: list[tuple[str, int, int]] = field(default_factory=list)

    def on_publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        packet_id: int | None,
        topic_valid: bool,
    ) -> None:
        self.published.append((topic, payload, qos, retain, packet_id, topic_valid))

    def on_connack(self, connection: Connection, packet: mqtt5.ConnAckPacket) -> None:
        return None

    def on_suback(self, connection: Connection, packet_id: int, reasons: list[int]) -> None:
        return None

    def on_closed(self, connection: Connection, reason: str) -> None:
        self.closed.append(reason)

    def on_too_large(self, topic: str, size: int, limit: int) -> None:
        self.too_large.append((topic, size, limit))


class FakeTransport(asyncio.Transport):
    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self.written = bytearray()
        self.connection = connection
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.abort()

    def abort(self) -> None:
        if not self.closing:
            self.closing = True
            self.connection.connection_lost(None)

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True


CONNACK = mqtt5.ConnAckPacket()


def _connection(
    clean: bool = False, connack: mqtt5.ConnAckPacket | None = CONNACK
) -> tuple[Connection, Recorder, FakeTransport]:
    """A connection on a fake transport, past its CONNACK unless `connack` is None."""
    recorder = Recorder()
    connection = Connection(recorder, Outbox(100), clean=clean)
    transport = FakeTransport(connection)
    connection.connection_made(transport)
    if connack is not None:
        connection.data_received(connack.write())
    return connection, recorder, transport


def _publishes(count: int) -> bytes:
    return b"".join(
        mqtt5.PublishPacket(
            f"chuong/v1/dev/b-{n}/event", b"x" * (n * 37 % 300), qos=AT_LEAST_ONCE, packet_id=n + 1
        ).write()
        for n in range(count)
    )


async def test_packets_split_anywhere_or_coalesced_are_all_read_once_in_order() -> None:
    """The same 200 PUBLISHes arrive once in one piece, once byte by byte, and once in random
    pieces: each reading hands on all 200, in order, with their payloads, and no more."""
    data = _publishes(200)
    expected = [(f"chuong/v1/dev/b-{n}/event", n * 37 % 300, n + 1) for n in range(200)]
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(1, len(data)), 400))
    for pieces in (
        [data],
        [data[n : n + 1] for n in range(len(data))],
        [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)],
    ):
        connection, recorder, transport = _connection()
        for piece in pieces:
            connection.data_received(piece)
        got = [(t, len(p), i) for t, p, _, _, i, _ in recorder.published]
        assert got == expected
        assert recorder.closed == []
        assert not transport.closing


async def test_a_malformed_packet_closes_the_connection_with_its_reason() -> None:
    """A whole frame the codec cannot read (its fields run past its length) closes the
    connection, naming the fault, instead of waiting for more bytes."""
    connection, recorder, transport = _connection()
    good = _publishes(1)
    connection.data_received(good + b"\x32\x07\x00\x09ab\x00\x05\x00" + good)
    assert transport.closing
    assert len(recorder.published) == 1
    assert recorder.closed
    assert "malformed" in recorder.closed[0]


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xff\x00",
        b"\x30\xff\xff\xff\xff\x01",
        b"\x36\x06\x00\x01a\x00\x01\x00",
        b"\x20\x02\x00\x00",
    ],
)
async def test_garbage_is_malformed_never_an_exception(garbage: bytes) -> None:
    """Bad flags, a length over 4 bytes, QoS 3, an unexpected CONNACK without properties."""
    connection, recorder, transport = _connection(connack=None)
    connection.data_received(garbage)
    assert transport.closing
    assert "malformed" in recorder.closed[0]


async def test_a_qos_2_publish_closes_the_connection() -> None:
    """The hub subscribes at QoS 0 or 1: a QoS 2 PUBLISH is the broker's fault."""
    connection, recorder, transport = _connection()
    packet = mqtt5.PublishPacket("t", b"", qos=mqtt5.QoS.EXACTLY_ONCE, packet_id=3).write()
    connection.data_received(packet)
    assert transport.closing
    assert recorder.published == []


# mqtt5's panic leaves Python's UnicodeDecodeError "ignored" (printed to stderr): expected here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_topic_that_is_not_utf8_is_handed_on_flagged_with_its_packet_id() -> None:
    """mqtt5 0.8.0 panics on it; the connection reads it by hand, hands it on flagged (so the
    hub rejects and acknowledges it) and reads on."""
    topic = b"chuong/v1/dev/\xff\xfe/event"
    body = len(topic).to_bytes(2, "big") + topic + b"\x00\x09" + b"\x00" + b"payload"
    frame = bytes((0x32, len(body))) + body
    connection, recorder, transport = _connection()
    connection.data_received(frame + _publishes(1))
    assert not transport.closing
    first, second = recorder.published
    assert first[1:] == (b"payload", 1, False, 9, False)
    assert "\\xff\\xfe" in first[0]
    assert second[5] is True


# mqtt5's panic leaves Python's UnicodeDecodeError "ignored" (printed to stderr): expected here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_press_with_a_property_that_is_not_utf8_is_still_a_press() -> None:
    """mqtt5 0.8.0 panics on a user property that is not UTF-8 as on such a topic; only the topic
    decides whether the message is flagged (the hub reads no property): a press on a good topic
    is handed on as the press it is, not rejected and acknowledged as a bad topic."""
    topic = b"chuong/v1/dev/b-1/event"
    key, value = b"k", b"\xff"
    prop = b"\x26" + len(key).to_bytes(2, "big") + key + len(value).to_bytes(2, "big") + value
    body = len(topic).to_bytes(2, "big") + topic + b"\x00\x05" + bytes((len(prop),)) + prop
    body += b'{"event":"press"}'
    connection, recorder, transport = _connection()
    connection.data_received(bytes((0x32, len(body))) + body)
    assert not transport.closing
    assert recorder.published == [
        ("chuong/v1/dev/b-1/event", b'{"event":"press"}', 1, False, 5, True)
    ]


async def test_nothing_but_connack_is_taken_before_connack() -> None:
    """A PUBLISH before CONNACK (§3.2: the broker's first packet is CONNACK) would be counted
    with the previous connection and its PUBACK dropped as stale: it closes the connection."""
    connection, recorder, transport = _connection(connack=None)
    connection.data_received(_publishes(1) + mqtt5.ConnAckPacket().write())
    assert transport.closing
    assert recorder.published == []
    assert "before CONNACK" in recorder.closed[0]


async def test_after_disconnect_the_reads_stay_framed_and_nothing_is_written() -> None:
    """During a clean stop the connection reads on until the broker closes it (so that it never
    closes with data unread): packets that arrive then, several in one read or split, are still
    framed (not taken for malformed), handed to nobody, and nothing more is written after
    DISCONNECT and EOF (not a keepalive's PINGREQ, not a PUBACK)."""
    connection, recorder, transport = _connection()
    stopping = asyncio.create_task(connection.disconnect(0.2))
    await asyncio.sleep(0)
    written = len(transport.written)
    data = _publishes(5)
    for piece in (data[:7], data[7:-9], data[-9:]):
        connection.data_received(piece)
    assert connection._rest == b"", "every packet read whole: nothing left over to misframe"
    connection.write(b"\xc0\x00")
    connection.flush()
    await stopping
    assert recorder.published == []
    assert not any("malformed" in reason for reason in recorder.closed)
    assert len(transport.written) == written


def test_raw_publish_rejects_a_short_frame() -> None:
    with pytest.raises(MalformedPacket):
        raw_publish(b"\x32\x05\x00\x09ab")


def test_frame_length_needs_the_whole_header() -> None:
    assert frame_length(b"\x30") is None
    assert frame_length(b"\x30\x80") is None
    assert frame_length(b"\x30\x80\x01") == 3 + 128
    with pytest.raises(MalformedPacket):
        frame_length(b"\x30\xff\xff\xff\xff\x01")


async def test_a_clean_connection_answers_qos_1_itself() -> None:
    """The telemetry connection has nothing for the pipeline to acknowledge."""
    connection, recorder, transport = _connection(clean=True)
    connection.data_received(_publishes(2))
    connection.flush()
    assert [p[4] for p in recorder.published] == [None, None]
    acks = [mqtt5.read(memoryview(transport.written[n : n + 4]))[0] for n in (0, 4)]
    assert [a.packet_id for a in acks if isinstance(a, mqtt5.PubAckPacket)] == [1, 2]


def test_outbox_resends_in_order_with_dup_only_when_the_session_is_kept() -> None:
    outbox = Outbox(10)
    ids = [outbox.add(f"t/{n}", b"p", False) for n in range(5)]
    assert None not in ids
    assert len(set(ids)) == 5
    sent = outbox.take(3)  # the broker's Receive Maximum: 3 in flight
    assert len(sent) == 3
    assert len(outbox.inflight) == 3
    assert len(outbox) == 5
    assert outbox.acked(ids[0])  # type: ignore[arg-type]
    outbox.rewind(session_present=True)
    again = [mqtt5.read(memoryview(p))[0] for p in outbox.take(10)]
    assert [p.packet_id for p in again if isinstance(p, mqtt5.PublishPacket)] == ids[1:]
    assert [p.duplicate for p in again if isinstance(p, mqtt5.PublishPacket)] == [
        True,
        True,
        False,
        False,
    ]
    outbox.rewind(session_present=False)
    fresh = [mqtt5.read(memoryview(p))[0] for p in outbox.take(10)]
    assert not any(p.duplicate for p in fresh if isinstance(p, mqtt5.PublishPacket))


def test_outbox_drops_what_the_broker_would_refuse_and_keeps_the_rest_in_order() -> None:
    """A publication larger than the broker's Maximum Packet Size is dropped, noted with its
    topic and size, and its packet id freed; those behind it go on (sent as the first of the
    queue, it would close every connection, §4.13)."""
    outbox = Outbox(10)
    for topic, size in (("a", 10), ("big", 9000), ("b", 10)):
        outbox.add(topic, b"x" * size, True)
    sent = outbox.take(10, 8192)
    assert [mqtt5.read(memoryview(p))[0].topic for p in sent] == ["a", "b"]  # type: ignore[union-attr]
    assert [(t, size > 9000) for t, size in outbox.too_large] == [("big", True)]
    assert len(outbox) == 2


def test_outbox_ids_never_collide_and_the_limit_holds() -> None:
    outbox = Outbox(3)
    reserved = outbox.reserve()
    ids = [outbox.add("t", b"", False) for _ in range(4)]
    assert ids[3] is None
    assert reserved not in ids
    assert len({*ids[:3], reserved}) == 4


# -- the adapter against a fake broker ------------------------------------------------------------


@dataclass
class FakeBroker:
    """A loopback server speaking just enough MQTT (through mqtt5) to script a broker."""

    script: Callable[[FakeBroker, int, asyncio.StreamReader, asyncio.StreamWriter], object]
    port: int = 0
    connections: int = 0
    packets: list[list[mqtt5.Packet]] = field(default_factory=list)

    async def read(self, reader: asyncio.StreamReader) -> mqtt5.Packet:
        head = await reader.readexactly(2)
        while frame_length(head) is None:
            head += await reader.readexactly(1)
        length = frame_length(head)
        assert length is not None
        data = head + await reader.readexactly(length - len(head))
        packet, _ = mqtt5.read(memoryview(data))
        self.packets[-1].append(packet)
        return packet

    async def serve(self) -> asyncio.Server:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            self.packets.append([])
            try:
                await self.script(self, self.connections, reader, writer)  # type: ignore[misc]
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server


async def _login(
    broker: FakeBroker,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    session_present: bool = False,
    receive_max: int = 65535,
) -> None:
    assert isinstance(await broker.read(reader), mqtt5.ConnectPacket)
    writer.write(
        mqtt5.ConnAckPacket(session_present=session_present, receive_max=receive_max).write()
    )
    subscribe = await broker.read(reader)
    assert isinstance(subscribe, mqtt5.SubscribePacket)
    granted = [mqtt5.SubAckReasonCode.GRANTED_QOS_AT_LEAST_ONCE]
    writer.write(mqtt5.SubAckPacket(subscribe.packet_id, granted).write())
    await writer.drain()


@pytest.fixture
async def served() -> AsyncIterator[list[asyncio.Server]]:
    servers: list[asyncio.Server] = []
    yield servers
    for server in servers:
        server.close()


async def test_garbage_from_the_broker_ends_the_connection_and_the_hub_reconnects(
    served: list[asyncio.Server],
) -> None:
    """The first connection gets garbage after its SUBACK; the adapter says so, reconnects, and
    the second connection (a sane broker) delivers a press."""

    async def script(
        broker: FakeBroker, n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await _login(broker, reader, writer)
        if n == 1:
            writer.write(b"\xff\xff\xff\xff\xff\xff garbage")
        else:
            writer.write(
                mqtt5.PublishPacket(
                    "chuong/v1/dev/b-1/event", b"{}", qos=AT_LEAST_ONCE, packet_id=1
                ).write()
            )
        await writer.drain()
        await reader.read()  # until the client closes

    fake = FakeBroker(script)
    served.append(await fake.serve())
    seen: list[MqttMessage] = []
    errors: list[str] = []
    adapter = make_adapter(fake.port, seen, errors, reconnect_min_s=0.05, connect_timeout_s=2)
    await adapter.start()
    try:
        await wait_for(lambda: seen != [], 10)
        assert fake.connections == 2
        assert any("malformed" in e for e in errors)
        assert adapter.connected
    finally:
        await adapter.stop()


async def test_publications_in_flight_are_resent_with_dup_on_a_kept_session(
    served: list[asyncio.Server],
) -> None:
    """A broker with Receive Maximum 2 that never acknowledges: only 2 of the hub's 4
    publications go out. It drops the connection; the hub comes back to a kept session and
    sends those 2 again first, same packet ids, DUP set, then the other 2 once they are acked."""

    async def script(
        broker: FakeBroker, n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await _login(broker, reader, writer, session_present=n > 1, receive_max=2)
        while True:
            packet = await broker.read(reader)
            if n == 1 and sum(isinstance(p, mqtt5.PublishPacket) for p in broker.packets[0]) == 2:
                await asyncio.sleep(0.2)  # nothing more may come: the window is full
                return
            if n > 1 and isinstance(packet, mqtt5.PublishPacket) and packet.packet_id:
                writer.write(mqtt5.PubAckPacket(packet.packet_id).write())

    fake = FakeBroker(script)
    served.append(await fake.serve())
    adapter = make_adapter(fake.port, reconnect_min_s=0.05, connect_timeout_s=2)
    await adapter.start()
    try:
        await wait_for(lambda: adapter.subscribed, 10)
        for n in range(3):
            adapter.publish(f"chuong/v1/alarms/post-{n}", b"{}", qos=1)
        await wait_for(lambda: fake.connections >= 2 and adapter.outgoing == 0, 10)
    finally:
        await adapter.stop()
    first = [p for p in fake.packets[0] if isinstance(p, mqtt5.PublishPacket)]
    second = [p for p in fake.packets[1] if isinstance(p, mqtt5.PublishPacket)]
    assert len(first) == 2  # the online status and post-0; Receive Maximum 2
    assert [(p.topic, p.packet_id, p.duplicate) for p in second[:2]] == [
        (p.topic, p.packet_id, True) for p in first
    ]
    assert [p.topic for p in second[2:4]] == ["chuong/v1/alarms/post-1", "chuong/v1/alarms/post-2"]
    assert not any(p.duplicate for p in second[2:])


async def test_a_refused_subscription_is_the_last_error_and_filters_are_unsubscribed(
    served: list[asyncio.Server],
) -> None:
    """The broker refuses the subscription (its ACL, 0x87): the adapter never says subscribed,
    and `last_error` names the filter. The filters the session must not hold are unsubscribed at
    the connection."""

    async def script(
        broker: FakeBroker, n: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        assert isinstance(await broker.read(reader), mqtt5.ConnectPacket)
        writer.write(mqtt5.ConnAckPacket().write())
        subscribe = await broker.read(reader)
        assert isinstance(subscribe, mqtt5.SubscribePacket)
        refused = [mqtt5.SubAckReasonCode.NOT_AUTHORIZED]
        writer.write(mqtt5.SubAckPacket(subscribe.packet_id, refused).write())
        while True:  # records what follows; acknowledges the hub's status
            packet = await broker.read(reader)
            if isinstance(packet, mqtt5.PublishPacket) and packet.packet_id:
                writer.write(mqtt5.PubAckPacket(packet.packet_id).write())

    fake = FakeBroker(script)
    served.append(await fake.serve())
    errors: list[str] = []
    adapter = make_adapter(fake.port, None, errors, unsubscribe=["chuong/v1/dev/+/heartbeat"])
    await adapter.start()
    try:
        await wait_for(lambda: any("refused the subscriptions" in e for e in errors), 10)
        assert not adapter.subscribed
        assert adapter.last_error is not None
        assert "chuong/v1/dev/+/event" in adapter.last_error
        await wait_for(
            lambda: any(isinstance(p, mqtt5.UnsubscribePacket) for p in fake.packets[0]), 10
        )
    finally:
        await adapter.stop()
    unsubscribe = next(p for p in fake.packets[0] if isinstance(p, mqtt5.UnsubscribePacket))
    assert unsubscribe.patterns == ["chuong/v1/dev/+/heartbeat"]
