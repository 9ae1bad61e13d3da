"""The hub's MQTT v5 connection: asyncio's Protocol/Transport, with the `mqtt5` codec.

`mqtt5` (a sans-io codec written in Rust) only encodes and decodes packets; everything else is
here: framing, packet ids, the outgoing QoS 1 queue, keepalive. `hub.broker.mqtt.MqttAdapter` owns
the connection loop and the rules of the hub (PUBACK after commit, on the same connection).

- Framing: one `data_received` may hold part of a packet or many packets. `mqtt5.read` raises
  `IndexError` when its buffer holds less than a whole packet; the length in the fixed header
  (MQTT 5 §2.1.4) tells whether the whole frame is there: a frame that is whole but still "too
  short" to `read` is malformed, not incomplete, and closes the connection rather than waiting
  for bytes that never come.
- Malformed input (`ValueError`, or a frame `read` cannot finish) closes the connection with a
  message naming it; the adapter reconnects. The hub never crashes on what the broker sends.
- mqtt5 0.8.0 does not raise a Python error on a PUBLISH whose topic is not UTF-8: its Rust code
  panics (`pyo3_runtime.PanicException`, a BaseException, with a traceback on stderr). Such a
  PUBLISH is read here by hand instead (`raw_publish`) and handed on flagged, so that the hub
  records it as rejected and acknowledges it: closing the connection would only have the broker
  send it again at every reconnection, ahead of the presses behind it.
- Writes go to a buffer and leave in one `transport.write` at `flush` or, if nobody flushes, at
  the next turn of the event loop: the PUBACKs of a committed batch stay ahead of the fan-out
  queued after them (MQTT 5 §4.6: the broker handles each direction in order).
- Outgoing QoS 1 publications wait in an `Outbox` (in flight, or queued behind the broker's
  Receive Maximum from CONNACK, §3.2.2.3.3). It belongs to the session, not the connection: on a
  reconnection with the session present the ones in flight are sent again first, with their
  packet ids and DUP set (§4.4); with a new session they are sent again as new publications.
- Keepalive (§3.1.2.10): a PINGREQ when nothing was sent for the keepalive interval, or nothing
  was received for that long; nothing received for 1.5 times the interval closes the connection
  (the broker's own rule for a silent client, applied to a silent broker).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from dataclasses import dataclass
from typing import Final, Protocol

import mqtt5

log = logging.getLogger(__name__)

PINGREQ: Final = mqtt5.PingReqPacket().write()
DISCONNECT: Final = mqtt5.DisconnectPacket().write()
PUBLISH: Final = 3
MAX_PACKET_ID: Final = 0xFFFF
KEEPALIVE_TICK_S: Final = 1.0
"""How often the keepalive clock is looked at (at most; less for a short keepalive)."""
SILENCE_FACTOR: Final = 1.5
"""Nothing heard from the broker for this many keepalive intervals closes the connection."""


class MalformedPacket(ValueError):
    """What the broker sent is not an MQTT v5 packet this client can read."""


def frame_length(buffer: bytes | bytearray | memoryview, start: int = 0) -> int | None:
    """The length of the frame at `start` (fixed header and remaining length, MQTT 5 §2.1), or
    None while its fixed header is incomplete. A remaining length longer than 4 bytes is
    malformed (§1.5.5)."""
    value = 0
    for index in range(4):
        at = start + 1 + index
        if at >= len(buffer):
            return None
        byte = buffer[at]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return 1 + index + 1 + value
    raise MalformedPacket("the remaining length of a packet is longer than 4 bytes")


def _varint(frame: bytes, at: int) -> tuple[int, int]:
    value = 0
    for index in range(4):
        byte = frame[at + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, at + index + 1
    raise MalformedPacket("a variable byte integer is longer than 4 bytes")


@dataclass(frozen=True, slots=True)
class RawPublish:
    """A PUBLISH read by hand: its topic is not UTF-8, so the codec cannot read it."""

    topic: bytes
    payload: bytes
    qos: int
    retain: bool
    packet_id: int | None


def raw_publish(frame: bytes) -> RawPublish:
    """Read a whole PUBLISH frame (§3.3) without decoding its topic."""
    try:
        flags = frame[0] & 0x0F
        qos = (flags >> 1) & 0x03
        if frame[0] >> 4 != PUBLISH or qos > 2:
            raise MalformedPacket("not a PUBLISH")
        _, at = _varint(frame, 1)
        size = int.from_bytes(frame[at : at + 2], "big")
        topic = frame[at + 2 : at + 2 + size]
        at += 2 + size
        packet_id = None
        if qos:
            packet_id = int.from_bytes(frame[at : at + 2], "big")
            at += 2
        properties, at = _varint(frame, at)
        at += properties
        if at > len(frame) or len(topic) != size:
            raise MalformedPacket("a PUBLISH shorter than its fields")
    except IndexError as exc:
        raise MalformedPacket("a PUBLISH shorter than its fields") from exc
    return RawPublish(topic, frame[at:], qos, bool(flags & 0x01), packet_id)


def publish_topic(frame: bytes) -> str:
    """The topic of an encoded PUBLISH, for the log."""
    try:
        return raw_publish(frame).topic.decode("utf-8", "replace")
    except MalformedPacket:
        return "?"


def reason_text(code: object) -> str:
    """A reason code as words, as the MQTT 5 specification names it (§2.4): `NOT_AUTHORIZED`
    is "Not authorized", what the officer reads on the status page."""
    name = str(getattr(code, "name", code))
    return name.replace("_", " ").capitalize()


def _is_codec_panic(exc: BaseException) -> bool:
    """The Rust code of mqtt5 panicked (a BaseException named PanicException, not importable)."""
    return type(exc).__name__ == "PanicException"


class Outbox:
    """The session's QoS 1 publications not yet acknowledged by the broker: in flight (sent,
    waiting for PUBACK) or queued behind the broker's Receive Maximum. Each keeps its packet id
    for its whole life, so that a resend after a reconnection uses the same one (§4.4)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.inflight: dict[int, bytes] = {}
        """Sent, not acknowledged: packet id to the encoded PUBLISH, in the order sent."""
        self.queued: deque[tuple[int, bytes]] = deque()
        self._reserved: set[int] = set()
        self._used: set[int] = set()
        """The packet ids of the publications in flight or queued (a set: a lookup per id)."""
        self._next_id = 1
        self.too_large: list[tuple[str, int]] = []
        """Publications `take` dropped because they exceed the broker's Maximum Packet Size:
        (topic, size), for the owner to report (`Connection.send_queued`)."""

    def __len__(self) -> int:
        return len(self._used)

    def new_id(self) -> int:
        """A packet id that no unacknowledged publication or open request uses."""
        for _ in range(MAX_PACKET_ID):
            packet_id = self._next_id
            self._next_id = packet_id % MAX_PACKET_ID + 1
            if packet_id not in self._used and packet_id not in self._reserved:
                return packet_id
        raise RuntimeError("no free MQTT packet id")  # cannot happen below the limit

    def reserve(self) -> int:
        """A packet id for a SUBSCRIBE or UNSUBSCRIBE, until `release`."""
        packet_id = self.new_id()
        self._reserved.add(packet_id)
        return packet_id

    def release(self, packet_id: int) -> None:
        self._reserved.discard(packet_id)

    def release_all(self) -> None:
        """Requests belong to their connection: none survives it."""
        self._reserved.clear()

    def add(self, topic: str, payload: bytes, retain: bool) -> int | None:
        """Queue a QoS 1 publication; its packet id, or None when the outbox is full."""
        if len(self) >= self.limit:
            return None
        packet_id = self.new_id()
        packet = mqtt5.PublishPacket(
            topic, payload, qos=mqtt5.QoS.AT_LEAST_ONCE, retain=retain, packet_id=packet_id
        )
        self.queued.append((packet_id, packet.write()))
        self._used.add(packet_id)
        return packet_id

    def take(self, window: int, max_size: int | None = None) -> list[bytes]:
        """Move queued publications in flight while fewer than `window` are; their packets. One
        larger than `max_size` (the broker's Maximum Packet Size, §3.2.2.3.6) is dropped instead
        and noted in `too_large`: the broker would close the connection on it (§4.13), and as
        the first of the queue after every reconnection it would close every later one."""
        out: list[bytes] = []
        while self.queued and len(self.inflight) < window:
            packet_id, packet = self.queued.popleft()
            if max_size is not None and len(packet) > max_size:
                self._used.discard(packet_id)
                self.too_large.append((publish_topic(packet), len(packet)))
                continue
            self.inflight[packet_id] = packet
            out.append(packet)
        return out

    def acked(self, packet_id: int) -> bool:
        if self.inflight.pop(packet_id, None) is None:
            return False
        self._used.discard(packet_id)
        return True

    def rewind(self, session_present: bool) -> None:
        """A new connection: what was in flight goes first in the queue again, with DUP set
        (bit 3 of the fixed header, §3.3.1.1) if the broker kept the session and so may have it,
        as it was if the session is new (to the broker, these are new publications)."""
        back = [
            (packet_id, _with_dup(packet, session_present))
            for packet_id, packet in self.inflight.items()
        ]
        self.inflight.clear()
        self.queued.extendleft(reversed(back))


def _with_dup(packet: bytes, dup: bool) -> bytes:
    """The PUBLISH with its DUP flag (bit 3 of the first byte) set or cleared."""
    first = packet[0] | 0x08 if dup else packet[0] & ~0x08
    return bytes((first,)) + packet[1:]


class Handler(Protocol):
    """What a connection tells its owner (the adapter); all on the event loop."""

    def on_publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        packet_id: int | None,
        topic_valid: bool,
    ) -> None: ...

    def on_connack(self, connection: Connection, packet: mqtt5.ConnAckPacket) -> None: ...

    def on_suback(self, connection: Connection, packet_id: int, reasons: list[int]) -> None: ...

    def on_closed(self, connection: Connection, reason: str) -> None: ...

    def on_too_large(self, topic: str, size: int, limit: int) -> None: ...


class Connection(asyncio.Protocol):
    """One network connection to the broker."""

    def __init__(self, handler: Handler, outbox: Outbox, *, clean: bool) -> None:
        self._handler = handler
        self._outbox = outbox
        self._clean = clean
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.sock: socket.socket | None = None
        self.connack: asyncio.Future[mqtt5.ConnAckPacket] = self._loop.create_future()
        self.closed: asyncio.Future[str] = self._loop.create_future()
        self.window = 0
        """The broker's Receive Maximum: its QoS 1 publications in flight, at most (0 before
        CONNACK: nothing is sent before it)."""
        self.max_packet: int | None = None
        """The broker's Maximum Packet Size from CONNACK (None: no limit given)."""
        self._rest = b""
        self._need = 0
        self._out = bytearray()
        self._flush_due = False
        self._reason: str | None = None
        self._keepalive = 0.0
        self._last_in = self._last_out = self._loop.time()
        self._ping_out = False
        self._timer: asyncio.TimerHandle | None = None
        self._refused_acks = 0
        self._closing = False
        """`close` was called: nothing more is read or written."""
        self._eof = False
        """DISCONNECT and EOF are sent (`disconnect`): nothing more is written."""
        self.deliver = True
        """False once the hub stops: what still arrives stays the broker's (no PUBACK)."""

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                log.debug("mqtt: TCP_NODELAY not available on this socket")
            self.sock = sock

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        reason = self._reason or (
            f"the connection was lost: {exc}" if exc else "the broker closed the connection"
        )
        if not self.connack.done():
            self.connack.set_exception(ConnectionError(reason))
            self.connack.exception()  # retrieved: the adapter may have stopped waiting
        if not self.closed.done():
            self.closed.set_result(reason)
        self.transport = None
        self._handler.on_closed(self, reason)

    def data_received(self, data: bytes) -> None:
        self._last_in = self._loop.time()
        self._ping_out = False
        if self._rest:
            data = self._rest + data
            if len(data) < self._need:
                self._rest = data
                return
        view = memoryview(data)
        end = len(data)
        at = 0
        try:
            while at < end:
                used = self._read_one(view, at, end)
                if used is None:
                    break
                at += used
                if self.transport is None or self._closing:
                    return
        except MalformedPacket as exc:
            self.close(f"the broker sent a malformed packet: {exc}")
            return
        self._rest = data[at:]
        if not self._rest:
            self._need = 0

    def _read_one(self, view: memoryview, at: int, end: int) -> int | None:
        """Read and handle the packet at `at`: the bytes it took, or None if it is not whole."""
        try:
            packet, used = mqtt5.read(view[at:])
        except IndexError:
            length = frame_length(view, at)
            if length is not None and at + length <= end:
                raise MalformedPacket("a packet shorter than its fields") from None
            self._need = end - at + 1 if length is None else length
            return None
        except ValueError as exc:
            raise MalformedPacket(str(exc)) from exc
        except BaseException as exc:
            if not _is_codec_panic(exc):
                raise
            length = frame_length(view, at)
            if length is None or at + length > end:
                raise MalformedPacket("the codec failed on a packet") from None
            self._raw(bytes(view[at : at + length]))
            return length
        self._dispatch(packet)
        return used

    def pause_writing(self) -> None:
        """The transport's buffer is full (the broker reads slowly). Nothing is held back: what
        this client writes is bounded already (PUBACKs by the hub's Receive Maximum, its own
        publications by the broker's), and PUBACKs must not wait behind anything."""
        log.debug("mqtt: the broker reads slowly; %d bytes buffered", self._buffered())

    def resume_writing(self) -> None:
        log.debug("mqtt: the broker reads again")

    # -- packets in ------------------------------------------------------------------------------

    def _dispatch(self, packet: mqtt5.Packet) -> None:
        kind = type(packet)
        if not self.connack.done() and kind not in (mqtt5.ConnAckPacket, mqtt5.DisconnectPacket):
            # §3.2: the broker's first packet is CONNACK. A PUBLISH before it would be counted
            # with the previous connection, and its PUBACK dropped as stale.
            raise MalformedPacket(f"{kind.__name__} before CONNACK")
        if kind is mqtt5.PublishPacket:
            assert isinstance(packet, mqtt5.PublishPacket)
            qos = int(packet.qos)  # a Rust enum: no comparison with ints
            self._publish(packet.topic, packet.payload, qos, packet.retain, packet.packet_id, True)
        elif kind is mqtt5.PubAckPacket:
            assert isinstance(packet, mqtt5.PubAckPacket)
            self._puback(packet)
        elif kind is mqtt5.PingRespPacket:
            pass
        elif kind is mqtt5.SubAckPacket:
            assert isinstance(packet, mqtt5.SubAckPacket)
            self._outbox.release(packet.packet_id)
            self._handler.on_suback(self, packet.packet_id, [r.value for r in packet.reason_codes])
        elif kind is mqtt5.UnsubAckPacket:
            assert isinstance(packet, mqtt5.UnsubAckPacket)
            self._outbox.release(packet.packet_id)
        elif kind is mqtt5.ConnAckPacket and not self.connack.done():
            assert isinstance(packet, mqtt5.ConnAckPacket)
            self._connack(packet)
        elif kind is mqtt5.DisconnectPacket:
            assert isinstance(packet, mqtt5.DisconnectPacket)
            why = f": {packet.reason_str}" if packet.reason_str else ""
            self.close(f"the broker disconnected: {reason_text(packet.reason_code)}{why}")
        else:
            raise MalformedPacket(f"unexpected {kind.__name__} from the broker")

    def _raw(self, frame: bytes) -> None:
        """A PUBLISH the codec could not read: a topic that is not UTF-8, or a property (a user
        property, a content type) that is not. Only the topic decides whether it is valid: a
        press with a good topic is a press, whatever its properties (the hub reads none)."""
        raw = raw_publish(frame)  # raises MalformedPacket if it is not one either
        try:
            topic, valid = raw.topic.decode("utf-8"), True
        except UnicodeDecodeError:
            topic, valid = repr(raw.topic)[:200], False  # its bytes, for the log
        self._publish(topic, raw.payload, raw.qos, raw.retain, raw.packet_id, valid)

    def _publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        packet_id: int | None,
        valid: bool,
    ) -> None:
        if qos > 1 or (qos == 1 and packet_id is None):
            # Every subscription asks for QoS 0 or 1 (§3.8.3.1: the broker never sends more).
            raise MalformedPacket(f"a PUBLISH at QoS {qos} on {topic}")
        if not self.deliver:
            return  # stopping: the broker keeps it and sends it again to the next hub
        if qos and self._clean:
            # A clean connection hands nothing to the pipeline to acknowledge: it answers at once.
            self.write(mqtt5.PubAckPacket(packet_id).write())  # type: ignore[arg-type]
            packet_id = None
        self._handler.on_publish(topic, payload, qos, retain, packet_id if qos else None, valid)

    def _puback(self, packet: mqtt5.PubAckPacket) -> None:
        if not self._outbox.acked(packet.packet_id):
            log.debug("mqtt: PUBACK for packet %d, not in flight", packet.packet_id)
            return
        if packet.reason_code.value >= 0x80:
            self._refused_acks += 1
            if self._refused_acks % 1000 == 1:
                log.warning(
                    "mqtt: the broker refused a publication of the hub: %s (%d on this connection)",
                    reason_text(packet.reason_code),
                    self._refused_acks,
                )
        if self._outbox.queued:
            self.send_queued()

    def _connack(self, packet: mqtt5.ConnAckPacket) -> None:
        self.window = packet.receive_max
        self.max_packet = packet.max_packet_size
        if packet.server_keep_alive is not None:
            self._keepalive = float(packet.server_keep_alive)
        # Before anything read after it: the broker's queued messages follow CONNACK at once,
        # often in the same read, and belong to the new connection.
        self._handler.on_connack(self, packet)
        self.connack.set_result(packet)

    # -- packets out -----------------------------------------------------------------------------

    def write(self, packet: bytes) -> None:
        """Queue bytes; they leave at `flush` or at the next turn of the event loop. Nothing is
        written once the connection is closing or has said DISCONNECT."""
        if self.transport is None or self._closing or self._eof:
            return
        self._out += packet
        if not self._flush_due:
            self._flush_due = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Hand what is queued to the transport now (it sends what the socket takes at once)."""
        self._flush_due = False
        if self._out and self.transport is not None and not self._eof:
            self.transport.write(bytes(self._out))
            self._last_out = self._loop.time()
        self._out.clear()

    def send_queued(self) -> None:
        """Put queued publications in flight, as far as the broker's window allows."""
        packets = self._outbox.take(self.window, self.max_packet)
        if packets:
            self.write(b"".join(packets))
        while self._outbox.too_large:
            topic, size = self._outbox.too_large.pop(0)
            self._handler.on_too_large(topic, size, self.max_packet or 0)

    def start_keepalive(self, keepalive_s: float) -> None:
        """After CONNACK: the broker's Server Keep Alive, if it gave one, wins (§3.2.2.3.14)."""
        if not self._keepalive:
            self._keepalive = keepalive_s
        if self._keepalive > 0:
            self._schedule_tick()

    def _schedule_tick(self) -> None:
        tick = min(KEEPALIVE_TICK_S, self._keepalive / 4)
        self._timer = self._loop.call_later(tick, self._tick)

    def _tick(self) -> None:
        if self.transport is None:
            return
        now = self._loop.time()
        silent = now - self._last_in
        if silent >= SILENCE_FACTOR * self._keepalive:
            self.close(f"the broker has been silent for {silent:.0f} s (keepalive)", abort=True)
            return
        quiet = now - self._last_out >= self._keepalive or silent >= self._keepalive
        if quiet and not self._ping_out:
            self._ping_out = True
            self.write(PINGREQ)
            self.flush()
        self._schedule_tick()

    def close(self, reason: str, *, abort: bool = False) -> None:
        """Close the connection (no DISCONNECT: the broker publishes the will, if any)."""
        if self._reason is None:
            self._reason = reason
        transport = self.transport
        if transport is None:
            return
        if not abort:
            self.flush()  # what was queued before the close (PUBACKs) still leaves
        self._closing = True
        if abort:
            transport.abort()
        else:
            transport.close()

    async def disconnect(self, timeout: float) -> None:
        """A clean end: DISCONNECT, then wait for the broker to close the connection. Reading
        goes on until then, so the socket is never closed with data unread (a reset could reach
        the broker ahead of the DISCONNECT, and it would publish the will)."""
        transport = self.transport
        if transport is None:
            return
        self.deliver = False
        self._reason = self._reason or "disconnected"
        self.write(DISCONNECT)
        self.flush()
        self._eof = True
        if transport.can_write_eof():
            transport.write_eof()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        if self.transport is not None:
            self.transport.close()

    def _buffered(self) -> int:
        return 0 if self.transport is None else self.transport.get_write_buffer_size()
