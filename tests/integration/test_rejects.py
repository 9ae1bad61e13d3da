"""Bad input gets recorded with its reason, counted, and the hub keeps serving."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest

from simulator.broker import Mosquitto
from simulator.button import VirtualButton
from tests.conftest import RunningHub, wait_for

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]

CASES = [
    ("malformed JSON", "chuong/v1/dev/bank-1/event", b'{"id": "x", "type": ', "invalid_json"),
    (
        "not UTF-8",
        "chuong/v1/dev/bank-1/event",
        b'{"id": "\xff\xfe", "type": "press"}',
        "invalid_utf8",
    ),
    (
        "NaN",
        "chuong/v1/dev/bank-1/event",
        b'{"id": "x", "type": "press", "seq": NaN}',
        "invalid_json",
    ),
    (
        "wrong type of id",
        "chuong/v1/dev/bank-1/event",
        b'{"id": 42, "type": "press"}',
        "invalid_field",
    ),
    (
        "wrong type of type",
        "chuong/v1/dev/bank-1/event",
        b'{"id": "x", "type": ["press"]}',
        "invalid_field",
    ),
    (
        "unknown type",
        "chuong/v1/dev/bank-1/event",
        b'{"id": "x", "type": "explode"}',
        "unknown_type",
    ),
    (
        "oversized id",
        "chuong/v1/dev/bank-1/event",
        json.dumps({"id": "x" * 65, "type": "press"}).encode(),
        "invalid_field",
    ),
    (
        "bad button id",
        "chuong/v1/dev/Bank_ONE!/event",
        b'{"id": "x", "type": "press"}',
        "invalid_button_id",
    ),
    (
        "too large",
        "chuong/v1/dev/bank-1/event",
        b'{"id": "x", "type": "press", "pad": "' + b"a" * 5000 + b'"}',
        "too_large",
    ),
    ("bad status", "chuong/v1/dev/bank-1/status", b"maybe", "invalid_json"),
]


@pytest.mark.parametrize(("case", "topic", "payload", "reason"), CASES, ids=[c[0] for c in CASES])
async def test_bad_message_is_rejected_with_its_reason_and_the_hub_keeps_serving(
    start_hub: StartHub, buttons: Buttons, case: str, topic: str, payload: bytes, reason: str
) -> None:
    """Each malformed message lands in the rejected log with its reason and is counted; a valid
    press right after it still becomes an alarm."""
    running = await start_hub()
    button = await buttons("bank-1")
    accepted, _ = await button.publish(topic, payload)
    assert accepted
    api = running.api()

    async def rejected() -> bool:
        rows = (await api.get("/api/v1/rejected")).json()
        return any(row["reason"] == reason for row in rows)

    await wait_for(rejected)
    [row] = [r for r in (await api.get("/api/v1/rejected")).json() if r["reason"] == reason]
    assert row["topic"] == topic
    assert row["size"] == len(payload)
    assert row["detail"]
    metrics = (await api.get("/metrics")).text
    assert f'chuong_rejected_messages_total{{reason="{reason}"}} 1.0' in metrics
    assert await running.alarms() == []

    press = await button.press()
    await button.wait_ack(press.event_id)
    assert len(await running.alarms()) == 1
    assert (await api.get("/readyz")).status_code == 200


async def test_a_retained_press_is_ignored_and_recorded(
    start_hub: StartHub, broker: Mosquitto, buttons: Buttons
) -> None:
    """A press left retained on the broker (a misconfigured button) is replayed to a newly
    subscribing hub flagged retained: it is rejected as `retained`, raises no alarm, and opens a
    `bad_messages` trouble for that button so the installer fixes it."""
    misconfigured = await buttons("bank-2")
    await misconfigured.publish(
        "chuong/v1/dev/bank-2/event", json.dumps({"id": "old", "type": "press"}), retain=True
    )
    running = await start_hub()
    api = running.api()

    async def rejected() -> bool:
        return any(
            row["reason"] == "retained" for row in (await api.get("/api/v1/rejected")).json()
        )

    await wait_for(rejected)
    assert await running.alarms() == []
    troubles = (await api.get("/api/v1/troubles")).json()
    assert [(t["kind"], t["subject"]) for t in troubles] == [("bad_messages", "bank-2")]


async def test_a_press_published_with_retain_while_the_hub_listens_is_a_live_press(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """A live press that happens to carry the retain flag reaches an existing subscription
    unflagged (MQTT-3.3.1-9): it is a real press and raises an alarm. Never lose a press to a
    button's setting."""
    running = await start_hub()
    button = await buttons("bank-1")
    await button.publish(
        "chuong/v1/dev/bank-1/event", json.dumps({"id": "live", "type": "press"}), retain=True
    )
    await button.wait_ack("live")
    assert len(await running.alarms()) == 1


async def test_bad_optional_fields_never_cost_the_alarm(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """A press with a nonsense battery and timestamp still raises its alarm; the dropped fields
    are noted."""
    running = await start_hub()
    button = await buttons("bank-1")
    payload = json.dumps({"id": "p1", "type": "press", "battery": 250, "ts": "hôm qua"})
    await button.publish("chuong/v1/dev/bank-1/event", payload)
    await button.wait_ack("p1")
    [alarm] = await running.alarms()
    assert alarm["devices"] == ["bank-1"]


async def test_a_malformed_heartbeat_is_rejected_not_fatal(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """A heartbeat that is not a JSON object is rejected as invalid_json; presses still work."""
    running = await start_hub()
    button = await buttons("bank-1")
    await button.publish("chuong/v1/dev/bank-1/heartbeat", b"[1, 2]")
    api = running.api()

    async def rejected() -> bool:
        return any(
            row["reason"] == "invalid_json" for row in (await api.get("/api/v1/rejected")).json()
        )

    await wait_for(rejected)
    press = await button.press()
    await button.wait_ack(press.event_id)
