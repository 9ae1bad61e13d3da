"""The admin's newer calls, through the API the page uses: importing the registry file (preview,
then apply), disabling a user, API tokens; refusals carry a code the page words itself; the
viewer and the officer are refused every one of them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable

import pytest

from hub.config import SupervisionSection
from hub.domain.model import Role
from simulator.button import VirtualButton
from tests.conftest import RunningHub, wait_for
from tests.web.conftest import PASSWORDS, Session, StartHub, add_users, run_sql

LogIn = Callable[..., Awaitable[Session]]
Buttons = Callable[..., Awaitable[VirtualButton]]
TOML = {"Content-Type": "application/toml"}

pytestmark = pytest.mark.both_stores
"""Every test here runs on SQLite and on PostgreSQL."""

NEW_FILE = """
[[sites]]
id = "bank"
name = "Ngân hàng Phước Hòa (chi nhánh)"
address = "12 Quốc lộ 1A"
phone = "0272 3812 345"

[[sites]]
id = "cho"
name = "Chợ Phước Hòa"

[[buttons]]
id = "bank-1"
site = "bank"
label = "Quầy 1"

[[buttons]]
id = "cho-1"
site = "cho"
label = "Quầy vàng"
"""


def _audit(conn: sqlite3.Connection, action: str) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT actor, detail FROM audit WHERE action = ? ORDER BY id", (action,))
    return list(rows.fetchall())


async def test_an_import_shows_what_it_changes_then_applies_it(
    web_hub: RunningHub, login: LogIn, buttons: Buttons
) -> None:
    """The preview lists what is added, changed (field by field) and left alone, and changes
    nothing; applying it with the preview's fingerprint makes exactly that change, keeps the test
    mode the file does not mention, and writes one audit entry. With "remove the others" the
    preview lists what goes, and applying a stale preview is refused."""
    admin = await login(web_hub, Role.ADMIN)
    api = admin.client
    assert (
        await web_hub.api().put(
            "/api/v1/devices/bank-1/test-mode", json={"test_mode": True, "duration_s": 3600}
        )
    ).status_code == 200
    preview = await api.post(
        "/api/v1/registry/import", content=NEW_FILE.encode(), headers={**admin.headers, **TOML}
    )
    assert preview.status_code == 200, preview.text
    seen = preview.json()
    assert seen["applied"] is False
    assert [s["id"] for s in seen["sites"]["added"]] == ["cho"]
    [bank] = seen["sites"]["changed"]
    assert bank["fields"] == [
        {
            "field": "name",
            "before": "Ngân hàng Phước Hòa",
            "after": "Ngân hàng Phước Hòa (chi nhánh)",
        }
    ]
    assert seen["sites"]["kept"] == ["clinic"]
    assert [b["id"] for b in seen["buttons"]["added"]] == ["cho-1"]
    assert seen["buttons"]["unchanged"] == 1  # bank-1: its test mode is kept, not a change
    assert seen["buttons"]["kept"] == ["bank-2", "clinic-1"]
    sites = {s["id"] for s in (await api.get("/api/v1/sites")).json()}
    assert "cho" not in sites  # a preview changes nothing

    applied = await api.post(
        "/api/v1/registry/import",
        params={"apply": "true", "expect": seen["fingerprint"]},
        content=NEW_FILE.encode(),
        headers={**admin.headers, **TOML},
    )
    assert applied.status_code == 200, applied.text
    assert applied.json()["applied"] is True
    assert applied.json()["sites"] == seen["sites"]
    device = (await api.get("/api/v1/devices/bank-1")).json()
    assert device["test_mode"] is True
    assert device["test_until"] is not None
    button = await buttons("cho-1")
    press = await button.press()
    await button.wait_ack(press.event_id)
    [alarm] = await web_hub.alarms()
    assert alarm["site"]["name"] == "Chợ Phước Hòa"
    log = await run_sql(web_hub, lambda c: _audit(c, "registry.imported"))
    [(actor, detail)] = [row for row in log if row[0] != "cli"]  # "cli": the test's own set-up
    assert actor == "user:admin"
    assert json.loads(detail) == {
        "sites_added": ["cho"],
        "sites_changed": ["bank"],
        "buttons_added": ["cho-1"],
    }

    stale = seen["fingerprint"]
    again = await api.post(
        "/api/v1/registry/import",
        params={"remove_missing": "true"},
        content=NEW_FILE.encode(),
        headers={**admin.headers, **TOML},
    )
    assert [b["id"] for b in again.json()["buttons"]["removed"]] == ["bank-2", "clinic-1"]
    assert [s["id"] for s in again.json()["sites"]["removed"]] == ["clinic"]
    refused = await api.post(
        "/api/v1/registry/import",
        params={"apply": "true", "expect": stale, "remove_missing": "true"},
        content=NEW_FILE.encode(),
        headers={**admin.headers, **TOML},
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "registry_changed"
    assert "preview" in refused.json()["detail"]  # the English reason stays for API users
    applied = await api.post(
        "/api/v1/registry/import",
        params={"apply": "true", "expect": again.json()["fingerprint"], "remove_missing": "true"},
        content=NEW_FILE.encode(),
        headers={**admin.headers, **TOML},
    )
    assert applied.status_code == 200, applied.text
    assert {s["id"] for s in (await api.get("/api/v1/sites")).json()} == {"bank", "cho"}


async def test_an_import_that_cannot_be_done_says_why(web_hub: RunningHub) -> None:
    """Not TOML, an unknown key, a button of a site that exists nowhere, a device given to two
    buttons, another device for a registered button: refused before anything is written, each
    with its code; applying without a preview's fingerprint is refused."""
    api = web_hub.api()

    async def post(text: str, **params: str) -> tuple[int, dict[str, object]]:
        answer = await api.post(
            "/api/v1/registry/import", params=params, content=text.encode(), headers=TOML
        )
        return answer.status_code, answer.json()

    status, body = await post("[[sites]\nid=")
    assert (status, body["errors"][0]["type"]) == (422, "registry_file")  # type: ignore[index]
    status, body = await post('[[sites]]\nid = "x"\nname = "X"\nfax = "1"\n')
    assert status == 422
    assert "fax" in str(body["detail"])
    status, body = await post('[[buttons]]\nid = "b-9"\nsite = "nowhere"\n')
    assert (status, body["errors"][0]["type"]) == (422, "sites_missing")  # type: ignore[index]
    twice = (
        '[[buttons]]\nid = "s-1"\nsite = "bank"\nprofile = "tasmota"\nnative_id = "tasmota_AB"\n'
        '[[buttons]]\nid = "s-2"\nsite = "bank"\nprofile = "tasmota"\nnative_id = "tasmota_AB"\n'
    )
    status, body = await post(twice)
    assert status == 422
    assert "twice" in str(body["detail"])
    moved = (
        '[[buttons]]\nid = "bank-1"\nsite = "bank"\nprofile = "tasmota"\nnative_id = "tasmota_CD"\n'
    )
    status, body = await post(moved)
    assert (status, body["errors"][0]["type"]) == (422, "identity_changed")  # type: ignore[index]
    status, body = await post(NEW_FILE, apply="true")
    assert status == 422
    assert "expect" in str(body["detail"])
    assert {s["id"] for s in (await api.get("/api/v1/sites")).json()} == {"bank", "clinic"}


async def test_a_disabled_user_cannot_log_in_and_their_sessions_end(
    web_hub: RunningHub, login: LogIn
) -> None:
    """Disabling ends the officer's open session at once; the right password is then refused
    (403, `disabled`); re-enabling lets them in again; both on the record. An admin cannot
    disable themselves."""
    admin = await login(web_hub, Role.ADMIN)
    officer = await login(web_hub, Role.OFFICER)
    assert (await officer.client.get("/api/v1/alarms")).status_code == 200
    off = await admin.client.patch(
        "/api/v1/users/officer", json={"disabled": True}, headers=admin.headers
    )
    assert off.status_code == 200, off.text
    assert (off.json()["disabled"], off.json()["sessions"]) == (True, 0)
    assert (await officer.client.get("/api/v1/alarms")).status_code == 401
    body = {"username": "officer", "password": PASSWORDS[Role.OFFICER]}
    refused = await web_hub.api(None).post("/login", json=body)
    assert (refused.status_code, refused.json()["code"]) == (403, "disabled")
    wrong = await web_hub.api(None).post("/login", json={**body, "password": "sai-mat-khau"})
    assert wrong.json()["code"] == "bad_credentials"  # nothing said without the password
    on = await admin.client.patch(
        "/api/v1/users/officer", json={"disabled": False}, headers=admin.headers
    )
    assert on.json()["disabled"] is False
    assert (await web_hub.api(None).post("/login", json=body)).status_code == 200
    yourself = await admin.client.patch(
        "/api/v1/users/admin", json={"disabled": True}, headers=admin.headers
    )
    assert (yourself.status_code, yourself.json()["code"]) == (409, "not_yourself_disable")
    log = await run_sql(web_hub, lambda c: _audit(c, "user.disabled") + _audit(c, "user.enabled"))
    assert [actor for actor, _ in log] == ["user:admin", "user:admin"]


async def test_an_admin_makes_and_revokes_api_tokens(web_hub: RunningHub, login: LogIn) -> None:
    """A token made from the page is shown once, works at once with its role, is listed without
    its secret, and stops working when revoked; a live name cannot be taken twice."""
    admin = await login(web_hub, Role.ADMIN)
    api, headers = admin.client, admin.headers
    made = await api.post(
        "/api/v1/tokens", json={"name": "tong-dai", "role": "viewer"}, headers=headers
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert token.startswith("chuong_")
    assert made.json()["created_by"] == "user:admin"
    client = web_hub.api(None)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/alarms", headers=bearer)).status_code == 200
    assert (await client.post("/api/v1/alarms/x/ack", json={}, headers=bearer)).status_code == 403
    listed = (await api.get("/api/v1/tokens")).json()
    assert "tong-dai" in {t["name"] for t in listed}
    assert token not in json.dumps(listed)
    taken = await api.post(
        "/api/v1/tokens", json={"name": "tong-dai", "role": "admin"}, headers=headers
    )
    assert (taken.status_code, taken.json()["code"]) == (409, "token_exists")
    assert (await api.delete("/api/v1/tokens/tong-dai", headers=headers)).status_code == 204
    assert (await client.get("/api/v1/alarms", headers=bearer)).status_code == 401
    gone = await api.delete("/api/v1/tokens/tong-dai", headers=headers)
    assert (gone.status_code, gone.json()["code"]) == (404, "token_not_found")
    log = await run_sql(web_hub, lambda c: _audit(c, "token.created") + _audit(c, "token.revoked"))
    assert [actor for actor, _ in log if actor.startswith("user:")] == ["user:admin"] * 2
    assert all(token not in detail for _, detail in log)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OFFICER])
async def test_viewers_and_officers_are_refused_the_admin_calls(
    web_hub: RunningHub, login: LogIn, role: Role
) -> None:
    """403 with the code `role_needed` from every new admin call, by session and by token."""
    session = await login(web_hub, role)
    calls = [
        ("POST", "/api/v1/registry/import", NEW_FILE.encode()),
        ("GET", "/api/v1/tokens", None),
        ("POST", "/api/v1/tokens", b'{"name": "x", "role": "admin"}'),
        ("DELETE", "/api/v1/tokens/test-admin", None),
        ("PATCH", "/api/v1/users/admin", b'{"disabled": true}'),
    ]
    for client, headers in (
        (session.client, session.headers),
        (web_hub.api(role), {}),
    ):
        for method, path, body in calls:
            answer = await client.request(
                method, path, content=body, headers={**headers, "Content-Type": "application/json"}
            )
            assert answer.status_code == 403, (method, path, answer.text)
            assert answer.json()["code"] == "role_needed"
            assert answer.json()["params"] == {"role": "admin", "yours": role.value}


async def test_refusals_name_themselves(web_hub: RunningHub) -> None:
    """The refusals a person meets on the page carry a code and its values next to the English
    detail (docs/HTTP.md): a site with buttons, a short password, a press pattern that raises
    nothing."""
    api = web_hub.api()
    busy = await api.delete("/api/v1/sites/bank")
    assert busy.status_code == 409
    assert busy.json() == {
        "detail": "site 'bank' still has buttons (bank-1, bank-2): remove or move them first",
        "code": "site_has_buttons",
        "params": {"site": "bank", "buttons": "bank-1, bank-2"},
    }
    missing = await api.get("/api/v1/devices/nope")
    assert missing.json() == {"detail": "no button 'nope'"}  # no code: left out
    short = await api.post(
        "/api/v1/users", json={"username": "abc", "role": "viewer", "password": "ngan"}
    )
    assert short.status_code == 422
    assert short.json()["errors"][0]["type"] == "password_short"
    assert short.json()["errors"][0]["params"] == {"min": "8"}
    pattern = await api.patch("/api/v1/devices/bank-1", json={"press_patterns": {"tamper": "fire"}})
    [problem] = pattern.json()["errors"]
    assert (problem["type"], problem["params"]) == ("pattern_no_alarm", {"pattern": "tamper"})
    assert "raises no alarm" in pattern.json()["detail"]  # the English reason, for API users


async def test_a_test_mode_ends_by_itself_without_supervision(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """With supervision disabled in the config, a test mode set for 2 s ends by itself (audited
    as the hub), and a press after the end is a real alarm."""
    running = await start_hub(supervision=SupervisionSection(enabled=False))
    await add_users(running, Role.ADMIN)
    api = running.api()
    body = {"test_mode": True, "duration_s": 2}
    assert (await api.put("/api/v1/sites/clinic/test-mode", json=body)).status_code == 200

    async def ended() -> bool:
        return (await api.get("/api/v1/devices/clinic-1")).json()["test_mode"] is False

    await wait_for(ended, timeout=15)
    button = await buttons("clinic-1")
    press = await button.press()
    await button.wait_ack(press.event_id)
    [alarm] = await running.alarms()
    assert alarm["test"] is False
    rows = await run_sql(running, lambda c: _audit(c, "registry.test_mode"))
    assert [actor for actor, _ in rows] == ["token:test-admin", "hub"]


async def test_an_import_that_moves_a_device_to_a_new_button_commits(web_hub: RunningHub) -> None:
    """With "remove the others", a file may give a removed button's device to a new button, and
    move a button off a site it removes: the rows are written in an order that never breaks a
    key, so the batch (shared with presses) commits."""
    api = web_hub.api()
    device = {"site": "clinic", "profile": "tasmota", "native_id": "tasmota_AB12"}
    assert (await api.post("/api/v1/devices", json={"id": "old-1", **device})).status_code == 201
    text = (
        '[[sites]]\nid = "bank"\nname = "Ngân hàng"\n'
        '[[buttons]]\nid = "bank-1"\nsite = "bank"\n'
        '[[buttons]]\nid = "clinic-1"\nsite = "bank"\n'
        '[[buttons]]\nid = "new-1"\nsite = "bank"\nprofile = "tasmota"\n'
        'native_id = "tasmota_AB12"\n'
    )
    query = {"remove_missing": "true"}
    preview = await api.post("/api/v1/registry/import", params=query, content=text.encode())
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert [b["id"] for b in body["buttons"]["removed"]] == ["bank-2", "old-1"]
    assert [s["id"] for s in body["sites"]["removed"]] == ["clinic"]
    applied = await api.post(
        "/api/v1/registry/import",
        params={**query, "apply": "true", "expect": body["fingerprint"]},
        content=text.encode(),
    )
    assert applied.status_code == 200, applied.text
    devices = {d["id"]: d for d in (await api.get("/api/v1/devices")).json() if d["registered"]}
    assert set(devices) == {"bank-1", "clinic-1", "new-1"}
    assert devices["new-1"]["native_id"] == "tasmota_AB12"
    assert devices["clinic-1"]["site_id"] == "bank"
