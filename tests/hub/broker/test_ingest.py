"""Unit tests of hub/broker/ingest.py: every broker message becomes one typed item for the
pipeline, or a rejection with a reason; nothing in a message makes `handle` raise. Pure logic: the
pipeline is a list, the vendor router a fake."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import cast

import pytest

from devices.messages import EventType
from devices.topics import Topics
from hub.broker import ingest as ingest_module
from hub.broker.ingest import RETAINED_PRESS_DETAIL, Ingest
from hub.broker.mqtt import MqttMessage
from hub.broker.vendors import VendorRouter
from hub.domain.inbound import (
    Delivery,
    HeartbeatIn,
    IgnoredIn,
    Inbound,
    PressIn,
    RejectedIn,
    StatusIn,
)

AT = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
DELIVERY = Delivery(mid=7, qos=1, connection=1)


def message(topic: str, payload: bytes, *, retain: bool = False, valid: bool = True) -> MqttMessage:
    return MqttMessage(topic, payload, 1, retain, AT, DELIVERY, topic_valid=valid)


def ingest_one(msg: MqttMessage, vendors: object | None = None) -> Inbound:
    items: list[Inbound] = []
    Ingest(Topics(), items.append, cast(VendorRouter | None, vendors)).handle(msg)
    assert len(items) == 1, items
    return items[0]


def rejection(msg: MqttMessage, vendors: object | None = None) -> RejectedIn:
    item = ingest_one(msg, vendors)
    assert isinstance(item, RejectedIn), item
    assert (item.topic, item.payload, item.received_at, item.delivery) == (
        msg.topic,
        msg.payload,
        AT,
        DELIVERY,
    )
    return item


def test_a_press_becomes_a_press_item_with_its_delivery_and_raw_message() -> None:
    msg = message("chuong/v1/dev/b1/event", b'{"id": "e1", "type": "press"}')
    item = ingest_one(msg)
    assert isinstance(item, PressIn)
    assert (item.button, item.event.id, item.event.type) == ("b1", "e1", EventType.PRESS)
    assert (item.received_at, item.delivery, item.source) == (AT, DELIVERY, "canonical")
    assert (item.topic, item.payload) == (msg.topic, msg.payload)  # kept to record a refusal


def test_a_heartbeat_and_a_status_become_their_items() -> None:
    beat = ingest_one(message("chuong/v1/dev/b1/heartbeat", b'{"battery": 80}'))
    assert isinstance(beat, HeartbeatIn)
    assert (beat.button, beat.beat.battery, beat.delivery) == ("b1", 80, DELIVERY)
    status = ingest_one(message("chuong/v1/dev/b1/status", b"offline"))
    assert isinstance(status, StatusIn)
    assert (status.button, status.online) == ("b1", False)


@pytest.mark.parametrize(
    ("topic", "payload", "reason", "button"),
    [
        ("chuong/v1/dev/b1/event", b"{not json", "invalid_json", "b1"),
        ("chuong/v1/dev/b1/event", b'{"id": "e1", "type": "sing"}', "unknown_type", "b1"),
        ("chuong/v1/dev/B%20AD/event", b'{"id": "e1", "type": "press"}', "invalid_button_id", None),
        ("chuong/v1/elsewhere/b1", b"{}", "unknown_topic", None),
        ("chuong/v1/dev/b1/heartbeat", b"[1, 2]", "invalid_json", "b1"),
    ],
)
def test_what_does_not_fit_is_rejected_with_a_reason_and_the_button(
    topic: str, payload: bytes, reason: str, button: str | None
) -> None:
    item = rejection(message(topic, payload))
    assert (item.reason, item.button) == (reason, button)


def test_a_topic_that_is_not_utf8_is_rejected() -> None:
    assert rejection(message("b'chuong/\\xff'", b"{}", valid=False)).reason == "invalid_topic"


def test_a_retained_press_is_a_replay_not_a_press() -> None:
    msg = message("chuong/v1/dev/b1/event", b'{"id": "e1", "type": "press"}', retain=True)
    item = rejection(msg)
    assert (item.reason, item.detail, item.button) == ("retained", RETAINED_PRESS_DETAIL, "b1")


def test_a_bug_while_reading_is_a_rejection_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`handle` never raises: the message is kept (as `internal_error`) and acknowledged, instead
    of a crash that would bring the same message back forever."""

    def broken(self: Ingest, msg: MqttMessage) -> list[Inbound]:
        raise KeyError("a bug")

    monkeypatch.setattr(Ingest, "_translate", broken)
    with caplog.at_level(logging.ERROR):
        item = rejection(message("chuong/v1/dev/b1/event", b"{}"))
    assert item.reason == "internal_error"
    assert "failed on a message on chuong/v1/dev/b1/event" in caplog.text


def test_once_closed_nothing_is_submitted() -> None:
    """While the hub stops, a message is left unacknowledged: the broker delivers it again."""
    items: list[Inbound] = []
    ingest = Ingest(Topics(), items.append)
    ingest.closed = True
    ingest.handle(message("chuong/v1/dev/b1/event", b'{"id": "e1", "type": "press"}'))
    assert items == []


class FakeVendors:
    def __init__(self, owns: bool) -> None:
        self.owns = owns
        self.statuses: list[tuple[StatusIn, str, bool]] = []

    def translate(self, msg: MqttMessage) -> list[Inbound] | None:
        if not self.owns:
            return None
        return [IgnoredIn(msg.topic, "nothing_to_record", msg.received_at, msg.delivery)]

    def canonical_status(self, item: StatusIn, topic: str, *, retained: bool) -> Inbound:
        self.statuses.append((item, topic, retained))
        return IgnoredIn(topic, "asleep", item.received_at, item.delivery)


def test_other_topics_go_to_the_vendor_router_then_are_rejected_if_nobody_owns_them() -> None:
    msg = message("shellies/shellybutton1-A4CF12/input_event/0", b'{"event": "S"}')
    owned = ingest_one(msg, FakeVendors(owns=True))
    assert isinstance(owned, IgnoredIn)
    assert owned.delivery == DELIVERY
    assert rejection(msg, FakeVendors(owns=False)).reason == "unknown_topic"


def test_a_canonical_status_is_reviewed_by_the_vendor_router() -> None:
    """A battery button's `offline` is its sleep: the router decides (with the retain flag)."""
    vendors = FakeVendors(owns=False)
    item = ingest_one(message("chuong/v1/dev/b1/status", b"offline", retain=True), vendors)
    assert isinstance(item, IgnoredIn)
    [(status, topic, retained)] = vendors.statuses
    assert (status.button, status.online, topic, retained) == (
        "b1",
        False,
        "chuong/v1/dev/b1/status",
        True,
    )


def test_a_flood_of_one_reason_is_logged_once_per_interval(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every rejection is submitted, but the log gets one line per reason per interval, then
    says how many were left out."""
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    items: list[Inbound] = []
    ingest = Ingest(Topics(), items.append)
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            ingest.handle(message("chuong/v1/dev/b1/event", b"{bad"))
        clock[0] += ingest_module.REJECT_LOG_INTERVAL_S
        ingest.handle(message("chuong/v1/dev/b1/event", b"{bad"))
    assert len(items) == 51
    lines = [r.getMessage() for r in caplog.records if "rejected a message" in r.getMessage()]
    assert len(lines) == 2
    assert "(and 49 more like it since the last report)" in lines[1]
