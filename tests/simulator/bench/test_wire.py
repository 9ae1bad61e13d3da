"""The load generator's MQTT encoding, checked byte by byte and then against a real Mosquitto."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.bench.wire import (
    PUBACK,
    WireError,
    WirePublisher,
    parse_properties,
    publish_packet,
    read_varint,
    split_packets,
    varint,
)
from simulator.broker import Mosquitto


@given(st.integers(min_value=0, max_value=268_435_455))
def test_varint_round_trip(value: int) -> None:
    """Every remaining length MQTT allows encodes in 1-4 bytes and decodes to itself."""
    encoded = varint(value)
    assert 1 <= len(encoded) <= 4
    assert read_varint(encoded, 0) == (value, len(encoded))


def test_varint_known_values() -> None:
    """The examples of MQTT 5 §1.5.5."""
    assert varint(0) == b"\x00"
    assert varint(127) == b"\x7f"
    assert varint(128) == b"\x80\x01"
    assert varint(16_383) == b"\xff\x7f"
    assert varint(16_384) == b"\x80\x80\x01"


def test_read_varint_says_when_the_bytes_are_not_there_yet() -> None:
    """A remaining length cut by the end of a read is "not yet", not an error."""
    assert read_varint(b"\x80", 0) is None
    with pytest.raises(WireError):
        read_varint(b"\x80\x80\x80\x80\x01", 0)


def test_publish_packet_layout() -> None:
    """QoS 1: fixed header 0x32, topic, packet id, empty properties, payload."""
    packet = publish_packet("a/b", b"hi", 1, 7)
    assert packet == b"\x32\x0a\x00\x03a/b\x00\x07\x00hi"
    assert publish_packet("a/b", b"hi", 0, 0) == b"\x30\x08\x00\x03a/b\x00hi"


def test_split_packets_keeps_an_incomplete_tail() -> None:
    """Packets split across reads come out whole, in order; a partial one waits."""
    puback = bytes([PUBACK, 2]) + struct.pack("!H", 5)
    buffer = bytearray(puback + puback[:3])
    first = split_packets(buffer)
    assert [(p.kind, p.body) for p in first] == [(PUBACK, b"\x00\x05")]
    assert buffer == bytearray(puback[:3])
    buffer += puback[3:]
    assert [p.body for p in split_packets(buffer)] == [b"\x00\x05"]
    assert buffer == bytearray()


def test_parse_properties_reads_each_kind() -> None:
    """Two-byte, four-byte, varint, string and string-pair properties (MQTT 5 §2.2.2.2)."""
    data = (
        b"\x21\x00\x64"  # receive maximum 100
        + b"\x11\x00\x00\x0e\x10"  # session expiry 3600
        + b"\x0b\x80\x01"  # subscription identifier 128
        + b"\x12\x00\x02id"  # assigned client identifier
        + b"\x26\x00\x01k\x00\x01v"  # user property k=v
    )
    props = parse_properties(data)
    assert props[0x21] == 100
    assert props[0x11] == 3600
    assert props[0x0B] == 128
    assert props[0x12] == b"id"
    assert props[0x26] == b"v"
    with pytest.raises(WireError):
        parse_properties(b"\x7f\x00")


def test_publisher_against_mosquitto(tmp_path: Path) -> None:
    """Against a real broker: the CONNACK's Receive Maximum is honoured (more messages than the
    window are queued, none refused, the broker does not disconnect us) and every QoS 1 message
    gets its PUBACK under its own tag."""
    broker = Mosquitto(tmp_path / "mosquitto").start()
    try:
        publisher = WirePublisher(broker.host, broker.port, "wire-test")
        publisher.connect()
        assert publisher.receive_maximum == 100  # max_inflight_messages of the generated config
        for n in range(1000):
            publisher.publish(f"test/{n}", b"{}", tag=("m", n))
        publisher.publish_qos0("test/qos0", b"{}")
        assert publisher.drain(30)
        assert set(publisher.acked) == {("m", n) for n in range(1000)}
        assert publisher.refused == []
        assert publisher.unacknowledged == 0
        publisher.close()
    finally:
        broker.kill()


def test_connack_refusal_is_an_error(tmp_path: Path) -> None:
    """A broker that refuses the connection (anonymous not allowed) raises, naming the reason."""
    password_file = tmp_path / "passwd"
    password_file.write_text("")
    broker = Mosquitto(tmp_path / "mosquitto", password_file=password_file).start()
    try:
        publisher = WirePublisher(broker.host, broker.port, "refused")
        with pytest.raises(WireError, match="refused the connection"):
            publisher.connect()
        publisher.close()
    finally:
        broker.kill()
