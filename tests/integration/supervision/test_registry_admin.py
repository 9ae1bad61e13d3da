"""Managing the registry while the hub runs (API and command line), test mode, and the report
of buttons without a recent test press."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hub import cli
from hub.clock import SystemClock, parse_iso
from hub.config import StoreSection
from hub.domain.model import Role
from hub.registry.file import import_registry, load_registry_file
from hub.store.db import open_sync_at
from simulator.button import VirtualButton
from simulator.vendors import VirtualTasmota
from tests.conftest import RunningHub, query_store, wait_for
from tests.integration.supervision.conftest import (
    audit,
    command_line_on,
    no_trouble,
    stored,
    trouble,
)

Supervised = Callable[..., Awaitable[RunningHub]]


async def command(argv: list[str]) -> int:
    """`chuong …` beside the running hub: in a thread, as a separate process would be, so that
    the hub's writer is never stuck behind it."""
    return await asyncio.to_thread(cli.main, argv)


Buttons = Callable[..., Awaitable[VirtualButton]]

TASMOTA = {"id": "cafe-1", "site": "cafe", "profile": "tasmota", "native_id": "tasmota_CAFE01"}


async def test_an_admin_adds_a_site_and_a_vendor_button_and_its_presses_raise_alarms(
    supervised: Supervised, broker: Any
) -> None:
    """POST a site, then a Tasmota button of it: the hub subscribes to Tasmota's topics (no
    restart) and the device's press raises an alarm at that site. Each change is on the record
    with the admin as actor."""
    running = await supervised(registry=None)
    admin = running.api(Role.ADMIN)
    site = await admin.post("/api/v1/sites", json={"id": "cafe", "name": "Cà phê Sáng"})
    assert site.status_code == 201, site.text
    assert site.json()["buttons"] == []
    added = await admin.post("/api/v1/devices", json=TASMOTA)
    assert added.status_code == 201, added.text
    view = added.json()
    assert (view["registered"], view["profile"], view["site_id"], view["online"]) == (
        True,
        "tasmota",
        "cafe",
        None,
    )
    device = VirtualTasmota("tasmota_CAFE01", host=broker.host, port=broker.port)
    await device.connect()
    try:

        async def subscribed_and_online() -> bool:
            found = (await admin.get("/api/v1/devices/cafe-1")).json()
            return found["online"] is True

        await wait_for(subscribed_and_online, 15)
        await device.press("SINGLE")
        await wait_for(lambda: len(running.hub.pipeline.state.alarms) == 1)  # type: ignore[union-attr]
        [alarm] = await running.alarms()
        assert (alarm["site"]["id"], alarm["devices"]) == ("cafe", ["cafe-1"])
    finally:
        await device.go_offline()
    [row] = audit(running, "registry.button_added", "cafe-1")
    assert row["actor"] == "token:test-admin"
    assert len(audit(running, "registry.site_added")) == 1


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"id": "bank-1", "site": "bank"}, 409, "exists already"),
        (
            {**TASMOTA, "id": "other", "site": "bank", "native_id": "tasmota_49A3BC"},
            409,
            "quay-tasmota",
        ),
        ({"id": "x-1", "site": "nowhere"}, 422, "no site 'nowhere'"),
        ({"id": "x-1", "profile": "acme"}, 422, "unknown profile 'acme'"),
        ({"id": "x-1", "profile": "tasmota"}, 422, "needs its native_id"),
        ({"id": "X 1"}, 422, "button id must match"),
        ({"id": "x-1", "power": "battery"}, 422, "needs checkin_s"),
        ({"id": "x-1", "colour": "red"}, 422, "Extra inputs"),
    ],
)
async def test_bad_additions_are_refused_with_a_reason(
    supervised: Supervised, body: dict[str, Any], status: int, reason: str
) -> None:
    running = await supervised()
    response = await running.api().post("/api/v1/devices", json=body)
    assert response.status_code == status, response.text
    assert reason in str(response.json()["detail"])


async def test_removing_buttons_and_sites(supervised: Supervised) -> None:
    """Unknown ids are 404; a site with buttons is 409 until they are gone; only admins may;
    a removed button's troubles are cleared."""
    running = await supervised()
    await trouble(running, "offline", "bank-bat")  # never heard from, past its 3 s bound
    officer = running.api(Role.OFFICER)
    assert (await officer.delete("/api/v1/devices/bank-1")).status_code == 403
    admin = running.api(Role.ADMIN)
    assert (await admin.delete("/api/v1/devices/nope")).status_code == 404
    busy = await admin.delete("/api/v1/sites/bank")
    assert busy.status_code == 409
    assert "bank-1" in busy.json()["detail"]
    for button in ("bank-1", "bank-2", "bank-bat"):
        response = await admin.delete(f"/api/v1/devices/{button}")
        assert response.json() == {"removed": button}
    assert (await admin.delete("/api/v1/sites/bank")).status_code == 200
    assert (await admin.get("/api/v1/devices/bank-1")).status_code == 404
    await no_trouble(running, "offline", "bank-bat")
    assert len(audit(running, "registry.button_removed")) == 3


async def test_an_admin_edits_a_site_and_moves_a_button_and_presses_follow(
    supervised: Supervised, buttons: Buttons
) -> None:
    """PATCH changes only the fields sent: a site's name and phone (its address stays), a
    button's label and site. The button's next press raises its alarm at the new site under the
    new names; each change is audited with what it was and what it became; the store keeps it
    (the listing after a restart would read it); bad edits are refused with a reason."""
    running = await supervised()
    admin = running.api(Role.ADMIN)
    body = {"name": "Nhà thuốc An Khang", "phone": "0272 3800 000"}
    edited = await admin.patch("/api/v1/sites/pharmacy", json=body)
    assert edited.status_code == 200, edited.text
    assert (edited.json()["name"], edited.json()["phone"]) == tuple(body.values())
    moved = await admin.patch("/api/v1/devices/bank-2", json={"site": "pharmacy", "label": "Kho"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["site_id"], moved.json()["label"]) == ("pharmacy", "Kho")
    press = await (button := await buttons("bank-2")).press()
    alarm_id = (await button.wait_ack(press.event_id)).ack.alarm
    alarm = (await admin.get(f"/api/v1/alarms/{alarm_id}")).json()
    assert (alarm["site"]["id"], alarm["site"]["name"]) == ("pharmacy", "Nhà thuốc An Khang")
    [row] = audit(running, "registry.button_changed", "bank-2")
    assert json.loads(row["detail"]) == {
        "before": {"label": "Quầy 2", "site_id": "bank"},
        "after": {"label": "Kho", "site_id": "pharmacy"},
    }
    assert row["actor"] == "token:test-admin"
    [site_row] = audit(running, "registry.site_changed")
    assert json.loads(site_row["detail"])["before"]["name"] == "Nhà thuốc An"
    assert stored(running, "SELECT name, address FROM sites WHERE id = 'pharmacy'") == [
        ("Nhà thuốc An Khang", "")
    ]
    assert stored(running, "SELECT site_id FROM buttons WHERE id = 'bank-2'") == [("pharmacy",)]
    for path, bad, status, reason in [
        ("/api/v1/sites/nope", {"name": "x"}, 404, "nope"),
        ("/api/v1/sites/bank", {"name": ""}, 422, "name"),
        ("/api/v1/sites/bank", {"id": "other"}, 422, "id"),
        ("/api/v1/devices/bank-1", {"site": "nowhere"}, 422, "nowhere"),
        ("/api/v1/devices/bank-1", {"profile": "tasmota"}, 422, "profile"),
        ("/api/v1/devices/bank-1", {"kind": "smoke"}, 422, "unknown alarm kind 'smoke'"),
        ("/api/v1/devices/bank-1", {"kind": "comm_loss"}, 422, "cannot raise 'comm_loss'"),
        ("/api/v1/devices/bank-1", {"press_patterns": {"tamper": "fire"}}, 422, "tamper"),
    ]:
        response = await admin.patch(path, json=bad)
        assert response.status_code == status, (path, bad, response.text)
        assert reason in str(response.json()["detail"]), response.text
        if status == 422:  # the API's one shape of a 422: a line, and the list of problems
            assert isinstance(response.json()["detail"], str), response.text
            assert response.json()["errors"], response.text
    powered = await admin.patch("/api/v1/devices/bank-1", json={"power": "battery"})
    assert powered.status_code == 200, powered.text
    assert powered.json()["power"] == "battery"
    assert stored(running, "SELECT power FROM buttons WHERE id = 'bank-1'") == [("battery",)]
    assert (await admin.patch("/api/v1/devices/bank-1", json={"power": "solar"})).status_code == 422
    kinds = {"kind": "medical", "press_patterns": {"long_press": "fire"}}
    changed = await admin.patch("/api/v1/devices/bank-1", json=kinds)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["kind"], changed.json()["press_patterns"]) == tuple(kinds.values())
    assert stored(running, "SELECT kind, press_patterns FROM buttons WHERE id = 'bank-1'") == [
        ("medical", '{"long_press":"fire"}')
    ]
    medical = await (button := await buttons("bank-1")).press()
    alarm_id = (await button.wait_ack(medical.event_id)).ack.alarm
    assert (await admin.get(f"/api/v1/alarms/{alarm_id}")).json()["kind"] == "medical"
    officer = running.api(Role.OFFICER)
    assert (await officer.patch("/api/v1/sites/bank", json={"name": "x"})).status_code == 403


async def test_test_mode_of_a_button_and_a_site_makes_their_presses_tests(
    supervised: Supervised, buttons: Buttons
) -> None:
    """A button put in test mode presses a test alarm; so does any button of a site in test mode;
    each test mode is a trouble until it is turned off; then presses are real again."""
    running = await supervised()
    admin = running.api(Role.ADMIN)
    on = await admin.put("/api/v1/devices/bank-1/test-mode", json={"test_mode": True})
    assert on.status_code == 200, on.text
    assert on.json()["test_mode"] is True
    assert (await trouble(running, "test_mode", "bank-1"))["site_id"] == "bank"
    button = await buttons("bank-1")
    press = await button.press()
    await button.wait_ack(press.event_id)
    [alarm] = await running.alarms()
    assert alarm["test"] is True

    site = await admin.put("/api/v1/sites/pharmacy/test-mode", json={"test_mode": True})
    assert site.json()["test_mode"] is True
    assert (await trouble(running, "site_test_mode", "pharmacy"))["site_id"] == "pharmacy"
    off = await admin.put("/api/v1/devices/bank-1/test-mode", json={"test_mode": False})
    assert off.json()["test_mode"] is False
    await no_trouble(running, "test_mode", "bank-1")
    real = await button.press()
    await button.wait_ack(real.event_id)
    tests = {a["test"] for a in await running.alarms()}
    assert tests == {True, False}
    assert (
        await admin.put("/api/v1/sites/nope/test-mode", json={"test_mode": True})
    ).status_code == 404
    viewer = running.api(Role.VIEWER)
    assert (
        await viewer.put("/api/v1/sites/bank/test-mode", json={"test_mode": True})
    ).status_code == 403
    [row, *_] = audit(running, "registry.test_mode", "bank-1")
    assert row["actor"] == "token:test-admin"


async def test_a_test_mode_with_a_duration_ends_by_itself(
    supervised: Supervised, buttons: Buttons
) -> None:
    """A site put in test mode for 2 s says when it ends; once past, the hub turns it off
    (audited as `hub`), its trouble clears, the store says so, and the next press is real. One
    without a duration stays on."""
    running = await supervised()
    admin = running.api(Role.ADMIN)
    body = {"test_mode": True, "duration_s": 2}
    on = await admin.put("/api/v1/sites/pharmacy/test-mode", json=body)
    assert on.status_code == 200, on.text
    assert on.json()["test_until"] is not None
    device = (await admin.get("/api/v1/devices/quay-shelly")).json()
    assert (device["test_mode"], device["test_until"]) == (True, on.json()["test_until"])
    forever = await admin.put("/api/v1/devices/bank-1/test-mode", json={"test_mode": True})
    assert forever.json()["test_until"] is None
    await trouble(running, "site_test_mode", "pharmacy")
    await no_trouble(running, "site_test_mode", "pharmacy")  # waits for the end

    async def ended() -> bool:
        sites = {site["id"]: site for site in (await admin.get("/api/v1/sites")).json()}
        return sites["pharmacy"]["test_mode"] is False

    await wait_for(ended, timeout=15)
    [row] = [r for r in audit(running, "registry.test_mode") if r["actor"] == "hub"]
    assert json.loads(row["detail"]) == {"site": "pharmacy", "on": False}
    assert stored(running, "SELECT test_mode, test_until FROM sites WHERE id = 'pharmacy'") == [
        (0, None)
    ]
    assert (await admin.get("/api/v1/devices/bank-1")).json()["test_mode"] is True
    too_long = {"test_mode": True, "duration_s": 8 * 24 * 3600}
    refused = await admin.put("/api/v1/sites/pharmacy/test-mode", json=too_long)
    assert refused.status_code == 422
    assert "duration_s" in refused.text


async def test_test_mode_from_the_command_line_reaches_the_running_hub(
    supervised: Supervised, buttons: Buttons, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """`chuong test-mode on --button bank-2` writes the store; the running hub picks it up and
    the next press is a test alarm."""
    running = await supervised()
    command_line_on(monkeypatch, running.config.store)
    assert await command(["test-mode", "on", "--button", "bank-2"]) == 0
    assert "test mode on" in capsys.readouterr().out
    assert await command(["test-mode", "on", "--site", "nowhere"]) == 1
    assert "no site 'nowhere'" in capsys.readouterr().err
    await trouble(running, "test_mode", "bank-2")
    button = await buttons("bank-2")
    press = await button.press()
    await button.wait_ack(press.event_id)
    [alarm] = await running.alarms()
    assert alarm["test"] is True
    assert await command(["test-mode", "off", "--button", "bank-2"]) == 0
    await no_trouble(running, "test_mode", "bank-2")


async def test_test_mode_from_the_command_line_ends_by_itself(
    supervised: Supervised, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """`chuong test-mode on` lasts 2 h unless told (as on the page), `--for 6s` ends by itself in
    the running hub, `--no-end` stays; a wrong duration is refused naming the option."""
    running = await supervised()
    command_line_on(monkeypatch, running.config.store)
    assert await command(["test-mode", "on", "--site", "pharmacy"]) == 0
    assert "until" in capsys.readouterr().out
    [(until,)] = stored(running, "SELECT test_until FROM sites WHERE id = 'pharmacy'")
    hours = (parse_iso(until) - SystemClock().now()).total_seconds() / 3600
    assert 1.9 < hours <= 2
    assert await command(["test-mode", "on", "--button", "bank-2", "--for", "6s"]) == 0
    assert await command(["test-mode", "on", "--button", "bank-1", "--no-end"]) == 0
    with pytest.raises(SystemExit):
        await command(["test-mode", "on", "--button", "bank-1", "--for", "8d"])
    assert "--for" in capsys.readouterr().err
    admin = running.api(Role.ADMIN)

    async def test_mode(button_id: str) -> bool:
        found: bool = (await admin.get(f"/api/v1/devices/{button_id}")).json()["test_mode"]
        return found

    async def picked_up() -> bool:  # the running hub reads the command line's writes
        return await test_mode("bank-1") and await test_mode("bank-2")

    async def ended() -> bool:
        return not await test_mode("bank-2")

    await wait_for(picked_up, timeout=15)
    await wait_for(ended, timeout=15)
    assert (await admin.get("/api/v1/devices/bank-1")).json()["test_until"] is None
    assert await test_mode("bank-1")


async def test_the_untested_report_lists_buttons_without_a_recent_test_press(
    supervised: Supervised, buttons: Buttons, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """After a `test` press from bank-1 (and a real press from bank-2), every other button is
    listed, never tested first; the command line says the same."""
    running = await supervised()
    one = await buttons("bank-1")
    test = await one.press("test")
    await one.wait_ack(test.event_id)
    two = await buttons("bank-2")
    real = await two.press()
    await two.wait_ack(real.event_id)
    response = await running.api(Role.VIEWER).get("/api/v1/reports/untested", params={"days": 30})
    assert response.status_code == 200
    listed = {row["button_id"]: row for row in response.json()}
    assert "bank-1" not in listed
    assert listed["bank-2"]["last_test_at"] is None
    assert listed["bank-2"]["site_name"] == "Ngân hàng Phước Hòa"
    assert len(listed) == 7
    bad = await running.api().get("/api/v1/reports/untested", params={"days": 0})
    assert bad.status_code == 422
    command_line_on(monkeypatch, running.config.store)
    assert await command(["report", "untested", "--days", "7"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("7 buttons without a test press in 7 days")
    assert "bank-1" not in out
    assert "never tested" in out


async def test_export_and_list_from_the_command_line(
    supervised: Supervised,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    fresh_store: Callable[[], str | None],
) -> None:
    """`registry export` writes TOML that `registry import` reads back to the same registry;
    `registry list` shows each button with its profile, its alarm kind and press patterns, and
    what was last heard."""
    running = await supervised()
    kinds = {"kind": "fire", "press_patterns": {"L": "medical"}}
    assert (await running.api().patch("/api/v1/devices/quay-shelly", json=kinds)).is_success
    command_line_on(monkeypatch, running.config.store)
    exported = tmp_path / "registry.toml"
    assert await command(["registry", "export", "--out", str(exported)]) == 0
    again = load_registry_file(exported)
    copy = StoreSection(path=tmp_path / "copy.db", url=fresh_store())  # another, empty store
    with contextlib.closing(open_sync_at(copy.url or copy.path)) as conn:
        import_registry(conn, again, running.hub.clock.now())
    command_line_on(monkeypatch, copy)
    capsys.readouterr()
    assert await command(["registry", "export"]) == 0
    assert capsys.readouterr().out == exported.read_text()
    assert await command(["registry", "list"]) == 0
    listing = capsys.readouterr().out
    assert (
        "quay-shelly\tsite pharmacy\tshelly-gen1:shellybutton1-A4CF12\talarm fire, L=medical\t"
        "never heard"
    ) in listing
    assert "\tcontract\talarm holdup\t" in listing
    assert 'press_patterns = { "L" = "medical" }' in exported.read_text()
    assert listing.startswith("2 sites")
    assert query_store(copy.url or copy.path, "SELECT count(*) FROM buttons")[0][0] == 8


async def test_registry_remove_from_the_command_line_reaches_the_running_hub(
    supervised: Supervised, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """`chuong registry remove --button bank-2` removes it (on the record, actor `cli`) and the
    running hub forgets it; a site that still has buttons is refused, naming them; an unknown
    one is an error."""
    running = await supervised()
    command_line_on(monkeypatch, running.config.store)
    viewer = running.api(Role.VIEWER)
    assert (await viewer.get("/api/v1/devices/bank-2")).status_code == 200
    assert await command(["registry", "remove", "--button", "bank-2"]) == 0
    assert "button 'bank-2' removed" in capsys.readouterr().out

    async def forgotten() -> bool:
        return (await viewer.get("/api/v1/devices/bank-2")).status_code == 404

    await wait_for(forgotten)
    assert await command(["registry", "remove", "--site", "bank"]) == 1
    assert "site 'bank' still has buttons (bank-1, bank-bat)" in capsys.readouterr().err
    assert await command(["registry", "remove", "--button", "bank-2"]) == 1
    assert "no button 'bank-2'" in capsys.readouterr().err
    removed = "SELECT actor, detail FROM audit WHERE action = 'registry.button_removed'"
    assert stored(running, removed) == [("cli", '{"button": "bank-2", "site": "bank"}')]
    for button in ("bank-1", "bank-bat"):
        assert await command(["registry", "remove", "--button", button]) == 0
    assert await command(["registry", "remove", "--site", "bank"]) == 0
    assert "site 'bank' removed" in capsys.readouterr().out

    async def site_gone() -> bool:
        sites = (await viewer.get("/api/v1/sites")).json()
        return "bank" not in {site["id"] for site in sites}

    await wait_for(site_gone)
