"""A lean MQTT 5 publisher for load generation: PUBLISH packets encoded in Python, written in bulk,
PUBACKs read in bulk.

Why not paho: paho spends ~60 µs of CPU per QoS 1 message (measured on the benchmark machine:
one `send` per packet and three `recv` calls per PUBACK). Driving the hub at 10,000 presses/s from
paho would take most of a core; on a small machine that is the core the hub and the broker need,
and the benchmark would measure the generator. This publisher costs a few µs per message.

It does only what the benchmark needs: CONNECT (clean start, keepalive off), PUBLISH at QoS 0 or
1, PUBACK with its reason code, DISCONNECT. It respects the broker's Receive Maximum (Mosquitto
disconnects a client that exceeds it). Blocking socket, one thread; not for the hub.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Final

CONNECT: Final = 0x10
CONNACK: Final = 0x20
PUBLISH: Final = 0x30
PUBACK: Final = 0x40
PINGRESP: Final = 0xD0
DISCONNECT: Final = 0xE0

RECEIVE_MAXIMUM: Final = 0x21
DEFAULT_RECEIVE_MAXIMUM: Final = 65535
MAX_PACKET_ID: Final = 65535

# Size of each property's value by identifier (MQTT 5 §2.2.2.2); -1: UTF-8 string or binary
# data (two-byte length), -2: string pair, 0: variable byte integer.
_PROPERTY_SIZE: Final = {
    **dict.fromkeys((0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A), 1),
    **dict.fromkeys((0x13, 0x21, 0x22, 0x23), 2),
    **dict.fromkeys((0x02, 0x11, 0x18, 0x27), 4),
    0x0B: 0,
    **dict.fromkeys((0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F), -1),
    0x26: -2,
}


class WireError(RuntimeError):
    pass


def varint(value: int) -> bytes:
    """MQTT's variable byte integer."""
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def read_varint(data: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(value, position after it), or None if `data` ends inside it."""
    value, mult = 0, 1
    for index in range(pos, min(pos + 4, len(data))):
        value += (data[index] & 0x7F) * mult
        if not data[index] & 0x80:
            return value, index + 1
        mult *= 128
    if len(data) - pos >= 4:
        raise WireError("malformed remaining length")
    return None


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def connect_packet(client_id: str) -> bytes:
    # protocol name, level 5, flags: clean start; keepalive 0 (off); no properties
    body = _string("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 0) + b"\x00" + _string(client_id)
    return bytes([CONNECT]) + varint(len(body)) + body


def publish_packet(topic: str, payload: bytes, qos: int, packet_id: int) -> bytes:
    header = _string(topic)
    if qos:
        header += struct.pack("!H", packet_id)
    body = header + b"\x00" + payload  # no properties
    return bytes([PUBLISH | qos << 1]) + varint(len(body)) + body


def parse_properties(data: bytes | bytearray) -> dict[int, int | bytes]:
    """The properties of a packet (numbers as int, strings and binary data as bytes)."""
    found: dict[int, int | bytes] = {}
    pos = 0
    while pos < len(data):
        ident = data[pos]
        pos += 1
        size = _PROPERTY_SIZE.get(ident)
        if size is None:
            raise WireError(f"unknown property 0x{ident:02x}")
        if size > 0:
            found[ident] = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        elif size == 0:
            decoded = read_varint(data, pos)
            if decoded is None:
                raise WireError("truncated property")
            found[ident], pos = decoded
        else:
            for _ in range(-size):
                (length,) = struct.unpack_from("!H", data, pos)
                found[ident] = bytes(data[pos + 2 : pos + 2 + length])
                pos += 2 + length
    return found


@dataclass(frozen=True, slots=True)
class Packet:
    kind: int
    """the packet type, upper four bits of the first byte"""
    body: bytes


def split_packets(buffer: bytearray) -> list[Packet]:
    """Take the complete packets off the front of `buffer` (the rest stays for the next read)."""
    packets = []
    pos = 0
    while len(buffer) - pos >= 2:
        decoded = read_varint(buffer, pos + 1)
        if decoded is None:
            break
        length, start = decoded
        if len(buffer) - start < length:
            break
        packets.append(Packet(buffer[pos] & 0xF0, bytes(buffer[start : start + length])))
        pos = start + length
    del buffer[:pos]
    return packets


class WirePublisher:
    """One MQTT connection publishing as fast as the broker takes it.

    `publish` and `publish_qos0` queue messages; `flush` writes them, waiting for PUBACKs whenever
    the broker's Receive Maximum is reached. `acked` maps the tag of each QoS 1 message to the
    time its PUBACK arrived; `refused` lists the tags the broker refused (reason code >= 0x80).
    """

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self._address = (host, port)
        self._client_id = client_id
        self._sock: socket.socket | None = None
        self._closed = False
        self._inbox = bytearray()
        self._outbox: list[tuple[str, bytes, Hashable | None]] = []
        self._in_flight: dict[int, Hashable] = {}
        self._next_id = 1
        self.receive_maximum = DEFAULT_RECEIVE_MAXIMUM
        self.acked: dict[Hashable, float] = {}
        self.refused: list[Hashable] = []
        self.window_wait_s = 0.0
        """time spent waiting for PUBACKs because the broker's Receive Maximum was reached"""

    def connect(self, timeout: float = 10.0) -> None:
        sock = socket.create_connection(self._address, timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        sock.sendall(connect_packet(self._client_id))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for packet in self._read(max(0.0, deadline - time.monotonic())):
                if packet.kind != CONNACK:
                    raise WireError(f"expected CONNACK, got packet type 0x{packet.kind:02x}")
                self.receive_maximum = _connack_receive_maximum(packet.body)
                return
        raise WireError("no CONNACK in time")

    @property
    def unacknowledged(self) -> int:
        """QoS 1 messages queued or in flight, without their PUBACK yet."""
        return len(self._in_flight) + sum(1 for _, _, tag in self._outbox if tag is not None)

    def publish(self, topic: str, payload: bytes, tag: Hashable) -> None:
        """Queue a QoS 1 message; `tag` is recorded in `acked` when its PUBACK arrives."""
        self._outbox.append((topic, payload, tag))

    def publish_qos0(self, topic: str, payload: bytes) -> None:
        self._outbox.append((topic, payload, None))

    def flush(self, timeout: float = 30.0) -> None:
        """Write every queued message, reading PUBACKs as the in-flight window requires."""
        deadline = time.monotonic() + timeout
        while self._outbox:
            room = self.receive_maximum - len(self._in_flight)
            if room <= 0:
                if time.monotonic() > deadline:
                    raise WireError("the broker stopped acknowledging")
                began = time.monotonic()
                self.poll(0.05)
                self.window_wait_s += time.monotonic() - began
                continue
            chunk: list[bytes] = []
            taken = 0
            for topic, payload, tag in self._outbox:
                if tag is None:
                    chunk.append(publish_packet(topic, payload, 0, 0))
                elif room > 0:
                    packet_id = self._take_id()
                    self._in_flight[packet_id] = tag
                    chunk.append(publish_packet(topic, payload, 1, packet_id))
                    room -= 1
                else:
                    break
                taken += 1
            del self._outbox[:taken]
            self._send(b"".join(chunk))
            self.poll(0.0)

    def poll(self, timeout: float) -> int:
        """Read what the broker sent, waiting up to `timeout` for the first bytes; return how
        many PUBACKs arrived."""
        count = 0
        for packet in self._read(timeout):
            if packet.kind == PUBACK:
                (packet_id,) = struct.unpack_from("!H", packet.body)
                tag = self._in_flight.pop(packet_id, None)
                if tag is None:
                    continue
                if len(packet.body) > 2 and packet.body[2] >= 0x80:
                    self.refused.append(tag)
                else:
                    self.acked[tag] = time.monotonic()
                count += 1
            elif packet.kind == DISCONNECT:
                reason = packet.body[0] if packet.body else 0
                raise WireError(f"the broker disconnected us: reason 0x{reason:02x}")
        return count

    def drain(self, timeout: float = 30.0) -> bool:
        """Flush, then wait until every QoS 1 message has its PUBACK; False if time ran out."""
        deadline = time.monotonic() + timeout
        self.flush(timeout)
        while self._in_flight and time.monotonic() < deadline:
            self.poll(0.05)
        return not self._in_flight

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):  # already gone: nothing to say goodbye to
            sock.sendall(bytes([DISCONNECT, 0]))
        sock.close()

    # -- helpers -----------------------------------------------------------------------------------

    def _take_id(self) -> int:
        while True:
            packet_id = self._next_id
            self._next_id = packet_id % MAX_PACKET_ID + 1
            if packet_id not in self._in_flight:
                return packet_id

    def _send(self, data: bytes) -> None:
        if self._sock is None:
            raise WireError("not connected")
        self._sock.sendall(data)

    def _read(self, timeout: float) -> list[Packet]:
        sock = self._sock
        if sock is None or self._closed:
            raise WireError("the broker closed the connection" if self._closed else "not connected")
        packets: list[Packet] = []
        wait = timeout
        while select.select([sock], [], [], wait)[0]:
            data = sock.recv(65536)
            if not data:
                self._closed = True
                if packets:  # hand over what came before the close (a refusing CONNACK)
                    return packets
                raise WireError("the broker closed the connection")
            self._inbox += data
            packets += split_packets(self._inbox)
            wait = 0.0
        return packets


def _connack_receive_maximum(body: bytes) -> int:
    """The broker's Receive Maximum from a CONNACK body; raise if the connection was refused."""
    if len(body) < 2:
        raise WireError("truncated CONNACK")
    if body[1] >= 0x80:
        raise WireError(f"the broker refused the connection: reason 0x{body[1]:02x}")
    decoded = read_varint(body, 2)
    if decoded is None:
        raise WireError("truncated CONNACK")
    length, start = decoded
    value = parse_properties(body[start : start + length]).get(RECEIVE_MAXIMUM)
    return value if isinstance(value, int) else DEFAULT_RECEIVE_MAXIMUM
