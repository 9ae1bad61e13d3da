"""A press becomes an alarm the officer can act on: end to end, against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.domain.model import Role
from simulator.broker import Mosquitto
from simulator.button import VirtualButton
from tests.conftest import RunningHub, wait_for

pytestmark = pytest.mark.both_stores
"""Every test here runs on SQLite and on PostgreSQL."""

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]


async def test_press_becomes_one_alarm_with_its_site_and_the_button_hears_received(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """A press from a registered button raises one active alarm carrying its site; the button
    receives a `received` ack naming that alarm."""
    running = await start_hub()
    button = await buttons("bank-1")
    press = await button.press()
    assert press.acked_by_broker
    ack = await button.wait_ack(press.event_id, "received")
    alarms = await running.alarms()
    assert len(alarms) == 1
    alarm = alarms[0]
    assert ack.ack.alarm == alarm["id"]
    assert alarm["state"] == "active"
    assert alarm["site"]["id"] == "bank"
    assert alarm["site"]["name"] == "Ngân hàng Phước Hòa"
    assert alarm["devices"] == ["bank-1"]
    assert alarm["press_count"] == 1
    assert alarm["unregistered"] is False
    assert alarm["test"] is False


async def test_acknowledge_and_resolve_from_the_api_reach_the_button(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """Officer acknowledges then resolves through the API; the button hears `acknowledged`,
    then `resolved`, and the audit log records both with the officer as actor."""
    running = await start_hub()
    button = await buttons("bank-1")
    press = await button.press()
    alarm_id = (await button.wait_ack(press.event_id)).ack.alarm
    officer = running.api(Role.OFFICER)
    response = await officer.post(f"/api/v1/alarms/{alarm_id}/ack", json={"note": "đang tới"})
    assert response.status_code == 200, response.text
    assert response.json()["acknowledged_by"] == "token:test-officer"
    await button.wait_ack(press.event_id, "acknowledged")
    response = await officer.post(
        f"/api/v1/alarms/{alarm_id}/resolve", json={"outcome": "genuine", "note": "đã bắt giữ"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "genuine"
    await button.wait_ack(press.event_id, "resolved")
    detail = (await officer.get(f"/api/v1/alarms/{alarm_id}")).json()
    actions = [(entry["action"], entry["actor"]) for entry in detail["audit"]]
    assert actions == [
        ("alarm.raised", "button:bank-1"),
        ("alarm.acknowledged", "token:test-officer"),
        ("alarm.resolved", "token:test-officer"),
    ]
    assert detail["audit"][2]["detail"] == {"outcome": "genuine", "note": "đã bắt giữ"}


async def test_the_same_event_twice_is_one_record_and_one_alarm(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """A redelivered event (same button, same id) is recorded once: one alarm, press_count 1,
    and the button is acknowledged again."""
    running = await start_hub()
    button = await buttons("bank-1")
    first = await button.press(event_id="evt-1")
    await button.wait_ack("evt-1")
    again = await button.press(event_id="evt-1")
    assert first.acked_by_broker
    assert again.acked_by_broker
    await wait_for(lambda: sum(1 for a in button.acks if a.ack.event == "evt-1") >= 2)
    alarms = await running.alarms()
    assert len(alarms) == 1
    assert alarms[0]["press_count"] == 1
    detail = (await running.api().get(f"/api/v1/alarms/{alarms[0]['id']}")).json()
    assert [p["event_id"] for p in detail["presses"]] == ["evt-1"]
    metrics = (await running.api().get("/metrics")).text
    assert "chuong_press_duplicates_total 1.0" in metrics


async def test_a_tamper_is_counted_apart_from_presses(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """`chuong_presses_total` counts what raises an alarm; a tamper (or cancel) is counted in
    `chuong_button_events_total`, not as a press."""
    running = await start_hub()
    button = await buttons("bank-1")
    await button.wait_ack((await button.press()).event_id)
    await button.press("tamper")

    async def tampered() -> bool:
        troubles = (await running.api().get("/api/v1/troubles")).json()
        return any(t["kind"] == "tamper" for t in troubles)

    await wait_for(tampered)
    metrics = (await running.api().get("/metrics")).text
    assert 'chuong_presses_total{type="press"} 1.0' in metrics
    assert 'chuong_presses_total{type="tamper"}' not in metrics
    assert 'chuong_button_events_total{type="tamper"} 1.0' in metrics


async def test_repeat_press_join_and_press_after_resolve(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """Correlation: a repeat press raises press_count to 2; another button of the same site joins
    the alarm; after resolve, a press raises a new alarm."""
    running = await start_hub()
    one = await buttons("bank-1")
    two = await buttons("bank-2")
    first = await one.press()
    alarm_id = (await one.wait_ack(first.event_id)).ack.alarm
    repeat = await one.press()
    assert (await one.wait_ack(repeat.event_id)).ack.alarm == alarm_id
    joined = await two.press()
    assert (await two.wait_ack(joined.event_id)).ack.alarm == alarm_id
    alarms = await running.alarms()
    assert len(alarms) == 1
    assert alarms[0]["press_count"] == 3
    assert alarms[0]["devices"] == ["bank-1", "bank-2"]

    admin = running.api(Role.ADMIN)
    response = await admin.post(
        f"/api/v1/alarms/{alarm_id}/resolve", json={"outcome": "test", "note": "thử"}
    )
    assert response.status_code == 200, response.text
    later = await one.press()
    new_id = (await one.wait_ack(later.event_id)).ack.alarm
    assert new_id != alarm_id
    states = {a["id"]: a["state"] for a in await running.alarms()}
    assert states == {alarm_id: "resolved", new_id: "active"}


async def test_other_site_raises_its_own_alarm(start_hub: StartHub, buttons: Buttons) -> None:
    """Presses at two different sites are two alarms, each with its own site."""
    running = await start_hub()
    bank = await buttons("bank-1")
    clinic = await buttons("clinic-1")
    a = await bank.press()
    b = await clinic.press()
    first = (await bank.wait_ack(a.event_id)).ack.alarm
    second = (await clinic.wait_ack(b.event_id)).ack.alarm
    assert first != second
    sites = {a["id"]: a["site"]["id"] for a in await running.alarms()}
    assert sites == {first: "bank", second: "clinic"}


async def test_unregistered_button_still_raises_a_flagged_alarm(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """A button the registry does not know raises an alarm flagged unregistered, without a site."""
    running = await start_hub()
    stranger = await buttons("khach-la")
    press = await stranger.press()
    await stranger.wait_ack(press.event_id)
    [alarm] = await running.alarms()
    assert alarm["unregistered"] is True
    assert alarm["site"] is None
    assert alarm["devices"] == ["khach-la"]
    device = (await running.api().get("/api/v1/devices/khach-la")).json()
    assert device["registered"] is False
    assert device["online"] is True


async def test_test_press_is_a_test_alarm_apart_from_real_ones(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """A `test` press raises a test alarm; a real press at the same site raises its own alarm."""
    running = await start_hub()
    one = await buttons("bank-1")
    test = await one.press("test")
    test_alarm = (await one.wait_ack(test.event_id)).ack.alarm
    real = await one.press("press")
    real_alarm = (await one.wait_ack(real.event_id)).ack.alarm
    assert test_alarm != real_alarm
    flags = {a["id"]: a["test"] for a in await running.alarms()}
    assert flags == {test_alarm: True, real_alarm: False}


async def test_open_alarm_is_retained_on_its_topic_and_cleared_after_resolve(
    start_hub: StartHub, buttons: Buttons, broker: Mosquitto
) -> None:
    """`{root}/alarms/{id}` holds the retained alarm object while it is open; after resolve the
    resolved state is published and the retained copy is cleared."""
    running = await start_hub()
    button = await buttons("bank-1")
    press = await button.press()
    alarm_id = (await button.wait_ack(press.event_id)).ack.alarm
    retained = await _retained(broker, f"chuong/v1/alarms/{alarm_id}")
    assert retained is not None
    assert json.loads(retained)["state"] == "active"

    seen: list[bytes] = []
    watcher = _subscriber(broker, f"chuong/v1/alarms/{alarm_id}", seen)
    try:
        admin = running.api()
        await admin.post(
            f"/api/v1/alarms/{alarm_id}/resolve",
            json={"outcome": "false_alarm", "note": "bấm nhầm"},
        )
        await wait_for(lambda: any(p and json.loads(p)["state"] == "resolved" for p in seen))
    finally:
        watcher.loop_stop()
        watcher.disconnect()
    assert await _retained(broker, f"chuong/v1/alarms/{alarm_id}") is None


async def test_stream_delivers_alarm_changes(start_hub: StartHub, buttons: Buttons) -> None:
    """The SSE stream says hello, then carries the alarm as it is raised."""
    running = await start_hub()
    button = await buttons("bank-1")
    events: list[tuple[str, dict[str, Any]]] = []

    async def listen() -> None:
        async with running.api(Role.VIEWER).stream("GET", "/api/v1/stream") as response:
            assert response.status_code == 200
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    events.append((event, json.loads(line.split(":", 1)[1])))
                    if event == "alarm":
                        return

    listener = asyncio.create_task(listen())
    await wait_for(lambda: any(kind == "hello" for kind, _ in events))
    press = await button.press()
    await asyncio.wait_for(listener, 10)
    kind, alarm = events[-1]
    assert kind == "alarm"
    assert alarm["devices"] == ["bank-1"]
    assert alarm["state"] == "active"
    assert press.acked_by_broker


def _subscriber(broker: Mosquitto, topic: str, sink: list[bytes]) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: sink.append(bytes(m.payload))
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    return client


async def _retained(broker: Mosquitto, topic: str) -> bytes | None:
    """What a new subscriber gets as the retained message on `topic` (None if nothing)."""
    seen: list[bytes] = []
    client = _subscriber(broker, topic, seen)
    try:
        await asyncio.sleep(0.3)
    finally:
        client.loop_stop()
        client.disconnect()
    return seen[0] if seen and seen[0] else None


async def _sse(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, str]]:
    """Server-sent events as {field: value}, one per blank-line-ended block (comments skipped)."""
    fields: dict[str, str] = {}
    async for line in lines:
        if not line:
            if fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


async def _next(events: AsyncIterator[dict[str, str]], kind: str) -> dict[str, str]:
    async with asyncio.timeout(20):
        async for event in events:
            if event.get("event") == kind:
                return event
    raise AssertionError(f"the stream ended before a {kind!r} event")


async def test_the_live_stream_resumes_from_last_event_id(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """Each change event has an id. A client that reconnects with Last-Event-ID first gets what
    it missed (the alarm raised while it was away); one whose id is unknown (the hub restarted)
    gets a `reset` event, telling it to reload the lists."""
    running = await start_hub()
    api = running.api(Role.VIEWER)
    async with api.stream("GET", "/api/v1/stream") as response:
        events = _sse(response.aiter_lines())
        await _next(events, "hello")
        bank = await buttons("bank-1")
        await bank.wait_ack((await bank.press()).event_id)
        first = await _next(events, "alarm")
    run, _, number = first["id"].partition("-")
    assert number.isdigit()

    clinic = await buttons("clinic-1")
    missed_alarm = (await clinic.wait_ack((await clinic.press()).event_id)).ack.alarm
    headers = {"Last-Event-ID": first["id"]}
    async with api.stream("GET", "/api/v1/stream", headers=headers) as response:
        events = _sse(response.aiter_lines())
        await _next(events, "hello")
        missed = await _next(events, "alarm")
    assert json.loads(missed["data"])["id"] == missed_alarm
    missed_run, _, missed_number = missed["id"].partition("-")
    assert missed_run == run
    assert int(missed_number) > int(number)

    async with api.stream("GET", "/api/v1/stream", headers={"Last-Event-ID": "0ld-7"}) as response:
        events = _sse(response.aiter_lines())
        await _next(events, "hello")
        assert (await anext(events))["event"] == "reset"
