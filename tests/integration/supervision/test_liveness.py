"""Supervision end to end, against a real Mosquitto: buttons that die, hang, sleep, flap, tire
and get opened become troubles with their site; their return clears them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from hub.clock import parse_iso
from hub.domain.bus import TroubleChanged
from hub.domain.model import Role
from simulator import scenarios
from simulator.button import VirtualButton
from tests.conftest import RunningHub, wait_for
from tests.integration.supervision.conftest import (
    audit,
    device,
    heard,
    no_trouble,
    open_troubles,
    ticks,
    trouble,
    until,
)

Supervised = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]


async def test_a_killed_button_goes_offline_with_a_trouble_and_its_return_clears_it(
    supervised: Supervised, buttons: Buttons
) -> None:
    """Power lost (VirtualButton.kill): the broker sends its last will; after the 1 s flap grace
    the button is offline (API `online` false) with an `offline` trouble carrying its site, never
    before the grace, announced on the bus that feeds the live stream. Back online, the trouble
    clears and `online` is true again."""
    running = await supervised()
    button = await buttons("bank-1")
    await heard(running, "bank-1")
    assert (await device(running, "bank-1"))["online"] is True
    stream = running.hub.bus.queue()
    button.kill()
    raised = await trouble(running, "offline", "bank-1")
    announced = []
    while (event := await stream.get(timeout=5)) is not None:
        if isinstance(event, TroubleChanged) and event.trouble.subject == "bank-1":
            announced.append(event.trouble)
            break
    assert [(t.kind, t.subject, t.site_id, t.id) for t in announced] == [
        ("offline", "bank-1", "bank", raised["id"])
    ]
    stream.close()
    assert raised["site_id"] == "bank"
    view = await device(running, "bank-1")
    assert view["online"] is False
    went = parse_iso(view["online_since"])
    assert parse_iso(raised["raised_at"]) - went >= timedelta(seconds=1)  # not before the grace
    assert "offline since" in raised["detail"]

    await button.connect()
    await no_trouble(running, "offline", "bank-1")
    assert (await device(running, "bank-1"))["online"] is True
    everything = (await running.api().get("/api/v1/troubles", params={"state": "all"})).json()
    cleared = [t for t in everything if t["kind"] == "offline" and t["subject"] == "bank-1"]
    assert [t["state"] for t in cleared] == ["cleared"]
    assert len(audit(running, "trouble.raised", "bank-1")) == 1
    assert len(audit(running, "trouble.cleared", "bank-1")) == 1


async def test_a_drop_shorter_than_the_flap_grace_raises_nothing(
    supervised: Supervised, buttons: Buttons
) -> None:
    """Gone and back within the 30 s grace: `online` followed it (on the record), no trouble."""
    running = await supervised(flap_grace_s=30)
    button = await buttons("bank-1")
    await heard(running, "bank-1")
    button.kill()
    await until(running, "bank-1", lambda d: d.online is False)
    await button.connect()
    await heard(running, "bank-1")
    await ticks(running, 5)
    assert ("offline", "bank-1") not in await open_troubles(running)
    assert len(audit(running, "button.offline", "bank-1")) == 1
    assert audit(running, "trouble.raised", "bank-1") == []


async def test_flaky_wifi_raises_and_clears_and_ends_online(
    supervised: Supervised, buttons: Buttons
) -> None:
    """The flaky-wifi scenario: each drop outlasting the grace is a trouble, each return clears
    it; at the end the button is online with nothing open."""
    running = await supervised(flap_grace_s=0.5)
    button = await buttons("bank-1")
    await heard(running, "bank-1")
    await scenarios.flaky_wifi(button, drops=2, up_s=0.5, down_s=2.5, heartbeat_s=0.25)
    await no_trouble(running, "offline", "bank-1")
    raised = audit(running, "trouble.raised", "bank-1")
    assert len(raised) >= 1
    assert len(raised) == len(audit(running, "trouble.cleared", "bank-1"))
    assert (await device(running, "bank-1"))["online"] is True


async def test_a_battery_button_is_not_offline_while_asleep_but_is_once_overdue(
    supervised: Supervised, buttons: Buttons
) -> None:
    """`bank-bat` checks in every 2 s (bound 3 s with grace 0.5). Its `offline` as it falls
    asleep is a check-in: `online` stays true. Silent past its bound: a trouble, never before
    (its raise time is at least 3 s after the last check-in). Its next wake clears it."""
    running = await supervised(checkin_grace=0.5)
    button = await buttons("bank-bat")
    await button.heartbeat(battery=80)
    await button.go_offline()  # asleep: its status says offline
    await until(running, "bank-bat", lambda d: d.battery == 80)
    await ticks(running, 2)
    assert (await device(running, "bank-bat"))["online"] is True
    raised = await trouble(running, "offline", "bank-bat")
    last_seen = parse_iso((await device(running, "bank-bat"))["last_seen"])
    assert parse_iso(raised["raised_at"]) - last_seen >= timedelta(seconds=3)
    assert "check-in is due within 3 s" in raised["detail"]
    assert (await device(running, "bank-bat"))["online"] is False

    woken = await buttons("bank-bat")  # pressed: it wakes, connects, sends the press
    await woken.press()
    await no_trouble(running, "offline", "bank-bat")
    assert (await device(running, "bank-bat"))["online"] is True


async def test_a_hung_button_is_declared_offline_by_its_silence(
    supervised: Supervised, buttons: Buttons
) -> None:
    """The silent scenario: heartbeats, then the button hangs with its connection open (no last
    will yet). Its heartbeats are due within 2 s: silence beyond that is offline."""
    running = await supervised(offline_after_s=2)
    button = await buttons("bank-1", keepalive=60)
    await scenarios.silent(button, after_s=0.6, every_s=0.2)
    raised = await trouble(running, "offline", "bank-1")
    assert raised["detail"].startswith("silent for")
    assert (await device(running, "bank-1"))["online"] is False


async def test_silence_counts_from_the_hubs_restart(
    supervised: Supervised, buttons: Buttons
) -> None:
    """A hub that was stopped heard nothing: after its restart, buttons that kept sending are not
    declared offline for the time it was away (the bound here is 1.5 s, the hub away 3 s)."""
    running = await supervised(offline_after_s=1.5)
    button = await buttons("bank-1")
    beats = asyncio.create_task(scenarios.heartbeats(button, seconds=30, every_s=0.3))
    try:
        await wait_for(lambda: running.hub.pipeline.state.devices.get("bank-1") is not None)
        await running.hub.stop()
        await asyncio.sleep(3)
        again = await supervised(offline_after_s=1.5)
        await ticks(again, 5)
        assert ("offline", "bank-1") not in await open_troubles(again)
    finally:
        beats.cancel()


async def test_a_dying_battery_is_a_trouble_with_its_site_and_a_new_one_clears_it(
    supervised: Supervised, buttons: Buttons
) -> None:
    """The dying-battery scenario (40%, 30%, 20%, 10%): at 20% a `low_battery` trouble; a reading
    of 100% (new battery) clears it."""
    running = await supervised()
    button = await buttons("bank-2")
    await scenarios.dying_battery(button, start=40, step=10, stop=10, every_s=0.2)
    raised = await trouble(running, "low_battery", "bank-2")
    assert raised["site_id"] == "bank"
    assert raised["detail"].startswith("battery 20%") or raised["detail"].startswith("battery 10%")
    assert (await device(running, "bank-2"))["battery"] == 10
    await button.heartbeat(battery=100)
    await no_trouble(running, "low_battery", "bank-2")


async def test_a_tamper_is_a_trouble_that_an_admin_clears_by_hand(
    supervised: Supervised, buttons: Buttons
) -> None:
    """The tamper scenario: a `tamper` trouble with its site, latched until an admin clears it
    with a note (a viewer may not; an unknown id is 404), on the record with the admin's name."""
    running = await supervised()
    button = await buttons("bank-1")
    await scenarios.tamper(button)
    raised = await trouble(running, "tamper", "bank-1")
    assert raised["site_id"] == "bank"
    url = f"/api/v1/troubles/{raised['id']}/clear"
    viewer = await running.api(Role.VIEWER).post(url, json={"note": "checked"})
    assert viewer.status_code == 403
    missing = await running.api().post("/api/v1/troubles/999999/clear", json={"note": "x"})
    assert missing.status_code == 404
    assert "no open trouble" in missing.json()["detail"]
    no_note = await running.api().post(url, json={})
    assert no_note.status_code == 422
    cleared = await running.api().post(url, json={"note": "case closed again, seal replaced"})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["state"] == "cleared"
    assert ("tamper", "bank-1") not in await open_troubles(running)
    [row] = audit(running, "trouble.cleared", "bank-1")
    assert row["actor"] == "token:test-admin"
    assert "seal replaced" in row["detail"]


async def test_a_skewed_clock_is_a_trouble_and_the_press_still_raises_its_alarm(
    supervised: Supervised, buttons: Buttons
) -> None:
    """A press stamped 5 min ahead of the hub: its alarm is raised as always, and a `clock_skew`
    trouble opens; a press in time clears it."""
    running = await supervised()
    button = await buttons("bank-1")
    ahead = await button.press(ts=datetime.now(UTC) + timedelta(minutes=5))
    await button.wait_ack(ahead.event_id)
    assert len(await running.alarms()) == 1
    raised = await trouble(running, "clock_skew", "bank-1")
    assert "ahead of the hub" in raised["detail"]
    assert raised["site_id"] == "bank"
    on_time = await button.press()
    await button.wait_ack(on_time.event_id)
    await no_trouble(running, "clock_skew", "bank-1")


async def test_the_device_api_reports_online_last_seen_battery_and_test_mode(
    supervised: Supervised, buttons: Buttons
) -> None:
    """Never heard from: `online` null. Heard: true, with `last_seen` and `battery`."""
    running = await supervised()
    quiet = await device(running, "bank-2")
    assert (quiet["online"], quiet["last_seen"], quiet["battery"]) == (None, None, None)
    assert quiet["test_mode"] is False
    button = await buttons("bank-2")
    await button.heartbeat(battery=77)
    await until(running, "bank-2", lambda d: d.battery == 77)
    heard = await device(running, "bank-2")
    assert heard["online"] is True
    assert heard["battery"] == 77
    assert parse_iso(heard["last_seen"]) > datetime.now(UTC) - timedelta(minutes=1)
