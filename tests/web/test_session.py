"""Login, the session cookie, CSRF, logout and login rate limiting, against a real hub."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from hub.clock import SystemClock
from hub.config import WebSection
from hub.domain.model import Role
from hub.web.accounts import needs_rehash, remove_user, set_password, verify_password
from simulator.button import VirtualButton
from tests.conftest import RunningHub
from tests.web.conftest import PASSWORDS, Session, StartHub, add_users, run_sql

Login = Callable[..., Awaitable[Session]]
Buttons = Callable[..., Awaitable[VirtualButton]]


async def _rows(running: RunningHub, sql: str, *params: Any) -> list[sqlite3.Row]:
    return await run_sql(running, lambda conn: list(conn.execute(sql, params).fetchall()))


async def _audit(running: RunningHub, action: str) -> list[dict[str, Any]]:
    return [
        {"actor": row["actor"], **json.loads(row["detail"] or "{}")}
        for row in await _rows(running, "SELECT actor, detail FROM audit WHERE action = ?", action)
    ]


async def _raise_alarm(buttons: Buttons) -> str:
    button = await buttons("bank-1")
    press = await button.press()
    return (await button.wait_ack(press.event_id)).ack.alarm


async def test_login_sets_a_strict_httponly_cookie_and_stores_only_its_hash(
    web_hub: RunningHub,
) -> None:
    """A good login answers the user, role, CSRF token and hub facts, and sets the cookie
    HttpOnly, SameSite=Strict, Path=/, for a day, not Secure over plain http. The store keeps the
    SHA-256 of the session id, never the id; the login is on the record."""
    async with httpx.AsyncClient(base_url=web_hub.url) as client:
        response = await client.post(
            "/login", json={"username": " Officer ", "password": PASSWORDS[Role.OFFICER]}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "officer"
    assert body["role"] == "officer"
    assert body["kind"] == "user"
    assert len(body["csrf_token"]) == 64
    assert body["hub"]["timezone"] == "Asia/Ho_Chi_Minh"
    cookie = response.headers["set-cookie"]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/" in attributes
    assert "max-age=86400" in attributes
    assert "secure" not in attributes
    session_id = response.cookies["chuong_session"]
    stored = [row["id_hash"] for row in await _rows(web_hub, "SELECT id_hash FROM sessions")]
    assert stored == [hashlib.sha256(session_id.encode()).hexdigest()]
    assert session_id.encode() not in web_hub.config.store.path.read_bytes()
    assert (await _audit(web_hub, "user.login"))[0]["actor"] == "user:officer"


async def test_cookie_is_secure_when_served_over_https(web_hub: RunningHub) -> None:
    """Behind a TLS proxy on the same machine (X-Forwarded-Proto: https), the cookie is Secure."""
    async with httpx.AsyncClient(base_url=web_hub.url) as client:
        response = await client.post(
            "/login",
            json={"username": "officer", "password": PASSWORDS[Role.OFFICER]},
            headers={"X-Forwarded-Proto": "https"},
        )
    assert response.status_code == 200
    assert "secure" in [part.strip().lower() for part in response.headers["set-cookie"].split(";")]


async def test_wrong_password_and_unknown_user_get_the_same_answer(web_hub: RunningHub) -> None:
    """Both are 401 `bad_credentials` with no cookie; both are on the record, but an unknown user
    name is not written down (people type their password there)."""
    async with httpx.AsyncClient(base_url=web_hub.url) as client:
        wrong = await client.post("/login", json={"username": "officer", "password": "nope-nope"})
        unknown = await client.post("/login", json={"username": "s3cret-pass", "password": "x"})
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json()["code"] == "bad_credentials"
        assert response.json()["detail"] == "wrong user name or password"
        assert "set-cookie" not in response.headers
    failures = await _audit(web_hub, "user.login_failed")
    assert [f.get("username") for f in failures] == ["officer", None]
    assert "s3cret-pass" not in json.dumps(failures)


@pytest.mark.parametrize(
    "body",
    [
        {"username": "officer"},
        {"username": "", "password": "x"},
        {"username": "a", "password": "x", "role": "admin"},
    ],
)
async def test_malformed_login_is_422(web_hub: RunningHub, body: dict[str, str]) -> None:
    """A login without a password, with an empty name or with unknown fields: 422 naming it."""
    async with httpx.AsyncClient(base_url=web_hub.url) as client:
        response = await client.post("/login", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("role", "ack", "resolve_active"),
    [(Role.VIEWER, 403, 403), (Role.OFFICER, 200, 409), (Role.ADMIN, 200, 200)],
)
async def test_a_session_carries_its_users_role_on_every_api_route(
    web_hub: RunningHub, login: Login, buttons: Buttons, role: Role, ack: int, resolve_active: int
) -> None:
    """With the session cookie alone, every user reads; an officer acknowledges and may resolve
    only an acknowledged alarm (409 with the reason); an admin may resolve an active one; a viewer
    may do neither (403 naming the role). The audit names the actor `user:<name>`."""
    alarm_id = await _raise_alarm(buttons)
    session = await login(web_hub, role)
    api = session.client
    for path in (
        "/api/v1/alarms",
        f"/api/v1/alarms/{alarm_id}",
        "/api/v1/devices",
        "/api/v1/sites",
        "/api/v1/troubles",
    ):
        assert (await api.get(path)).status_code == 200, path
    body = {"outcome": "genuine", "note": "đã xử lý"}
    response = await api.post(
        f"/api/v1/alarms/{alarm_id}/resolve", json=body, headers=session.headers
    )
    assert response.status_code == resolve_active, response.text
    if resolve_active == 403:
        assert "officer" in response.json()["detail"]
    elif resolve_active == 409:
        assert "acknowledged before" in response.json()["detail"]
        response = await api.post(f"/api/v1/alarms/{alarm_id}/ack", headers=session.headers)
        assert response.status_code == ack
        assert response.json()["acknowledged_by"] == "user:officer"
    if role is Role.VIEWER:
        assert (
            await api.post(f"/api/v1/alarms/{alarm_id}/ack", headers=session.headers)
        ).status_code == 403
    detail = (await api.get(f"/api/v1/alarms/{alarm_id}")).json()
    actors = {entry["actor"] for entry in detail["audit"] if entry["action"] != "alarm.raised"}
    assert actors == (set() if role is Role.VIEWER else {f"user:{role.value}"})


async def test_a_change_without_the_csrf_token_is_refused(
    web_hub: RunningHub, login: Login, buttons: Buttons
) -> None:
    """With a session, acknowledging without `X-CSRF-Token`, or with a wrong one, is 403 with the
    reason and changes nothing; with the token it works. Logout needs it too. Bearer-token calls
    need none."""
    alarm_id = await _raise_alarm(buttons)
    session = await login(web_hub, Role.OFFICER)
    api = session.client
    for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": session.csrf[:-1]}):
        response = await api.post(f"/api/v1/alarms/{alarm_id}/ack", headers=headers)
        assert response.status_code == 403
        assert "CSRF token" in response.json()["detail"]
    assert (await api.delete("/api/v1/session")).status_code == 403
    assert (await api.get(f"/api/v1/alarms/{alarm_id}")).json()["state"] == "active"
    response = await api.post(f"/api/v1/alarms/{alarm_id}/ack", headers=session.headers)
    assert response.status_code == 200
    token_client = web_hub.api(Role.OFFICER)
    body = {"outcome": "test", "note": "thử"}
    assert (
        await token_client.post(f"/api/v1/alarms/{alarm_id}/resolve", json=body)
    ).status_code == 200


async def test_session_endpoint_tells_who_is_calling(web_hub: RunningHub, login: Login) -> None:
    """GET /api/v1/session answers the same CSRF token as the login; for a bearer token it says
    `token` with no CSRF token, and DELETE (logout) is 400: a token is revoked, not logged out."""
    session = await login(web_hub, Role.VIEWER)
    me = (await session.client.get("/api/v1/session")).json()
    assert (me["username"], me["role"], me["kind"]) == ("viewer", "viewer", "user")
    assert me["csrf_token"] == session.csrf
    assert me["expires_at"] == session.info["expires_at"]
    token = web_hub.api(Role.ADMIN)
    me = (await token.get("/api/v1/session")).json()
    assert (me["username"], me["kind"], me["csrf_token"]) == ("test-admin", "token", None)
    response = await token.delete("/api/v1/session")
    assert response.status_code == 400
    assert "token" in response.json()["detail"]


async def test_logout_ends_the_session(web_hub: RunningHub, login: Login) -> None:
    """After logout the cookie is cleared, the session row is gone, and the old cookie, sent again
    by anyone, is refused with 401. The logout is on the record."""
    session = await login(web_hub, Role.OFFICER)
    cookie = session.client.cookies["chuong_session"]
    response = await session.client.delete("/api/v1/session", headers=session.headers)
    assert response.status_code == 204
    assert 'chuong_session=""' in response.headers["set-cookie"]
    assert await _rows(web_hub, "SELECT * FROM sessions") == []
    async with httpx.AsyncClient(
        base_url=web_hub.url, cookies={"chuong_session": cookie}
    ) as replay:
        for path in ("/api/v1/alarms", "/api/v1/session"):
            assert (await replay.get(path)).status_code == 401
    assert (await _audit(web_hub, "user.logout"))[0]["actor"] == "user:officer"


async def test_expired_removed_or_repassworded_sessions_are_refused(
    web_hub: RunningHub, login: Login
) -> None:
    """A session past its expiry is 401; changing a user's password or removing the user (from the
    command line, while the hub runs) ends their sessions at once."""
    expired, changed, removed = [await login(web_hub, role) for role in Role]

    def change(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE sessions SET expires_at = '2000-01-01T00:00:00.000Z' WHERE user_id = "
            "(SELECT id FROM users WHERE username = 'viewer')"
        )
        set_password(conn, "officer", "a-new-password", SystemClock().now())
        remove_user(conn, "admin", SystemClock().now())

    await run_sql(web_hub, change)
    for session in (expired, changed, removed):
        assert (await session.client.get("/api/v1/alarms")).status_code == 401


async def test_login_lock_per_user_name_and_address(start_hub: StartHub) -> None:
    """After 3 failures for `officer` from one address, even the right password is refused there
    with 429, a `Retry-After` and a reason, and the lock is in the audit log; the right password
    from another address still logs `officer` in, as does another user from the locked address.
    A stranger can lock only themselves out."""
    running = await start_hub(web=WebSection(login_failures_per_user=3, login_window_min=10))
    await add_users(running, Role.OFFICER, Role.VIEWER)
    attacker = {"X-Forwarded-For": "192.0.2.7"}
    right = {"username": "officer", "password": PASSWORDS[Role.OFFICER]}
    async with httpx.AsyncClient(base_url=running.url) as client:
        for _ in range(3):
            response = await client.post(
                "/login", json={"username": "officer", "password": "guess-guess"}, headers=attacker
            )
            assert response.status_code == 401
        response = await client.post("/login", json=right, headers=attacker)
        assert response.status_code == 429
        body = response.json()
        assert body["code"] == "rate_limited"
        assert "too many failed logins for this user name from this address" in body["detail"]
        assert 500 < int(response.headers["retry-after"]) <= 600
        assert body["retry_after"] == int(response.headers["retry-after"])
        viewer = await client.post(
            "/login",
            json={"username": "viewer", "password": PASSWORDS[Role.VIEWER]},
            headers=attacker,
        )
        assert viewer.status_code == 200
    async with httpx.AsyncClient(base_url=running.url) as officer:
        elsewhere = await officer.post(
            "/login", json=right, headers={"X-Forwarded-For": "192.0.2.8"}
        )
        assert elsewhere.status_code == 200
    (locked,) = await _audit(running, "user.login_locked")
    assert locked == {
        "actor": "hub",
        "address": "192.0.2.7",
        "username": "officer",
        "scope": "user",
    }


async def test_a_known_browser_logs_in_from_a_locked_address(start_hub: StartHub) -> None:
    """A browser that logged in as `officer` before carries a device cookie: when its address is
    locked (a proxy it shares with someone guessing), its attempts are counted for it alone, and
    the right password still logs it in. A made-up device cookie counts for nothing."""
    running = await start_hub(web=WebSection(login_failures_per_address=3))
    await add_users(running, Role.OFFICER)
    right = {"username": "officer", "password": PASSWORDS[Role.OFFICER]}
    async with httpx.AsyncClient(base_url=running.url) as browser:
        assert (await browser.post("/login", json=right)).status_code == 200
        device = browser.cookies.get("chuong_device")
        assert device
        async with httpx.AsyncClient(base_url=running.url) as stranger:
            for name in ("a", "b", "c"):
                await stranger.post("/login", json={"username": name, "password": "x"})
            assert (await stranger.post("/login", json=right)).status_code == 429
            stranger.cookies.set("chuong_device", "made-up.0000", path="/login")
            assert (await stranger.post("/login", json=right)).status_code == 429
        again = await browser.post("/login", json=right)
        assert again.status_code == 200, again.text


async def test_an_admin_lifts_a_login_lock(start_hub: StartHub) -> None:
    """`DELETE /api/v1/login-locks/officer` (admin) lifts the locks of `officer` from every
    address, on the record; an officer may not."""
    running = await start_hub(web=WebSection(login_failures_per_user=1))
    await add_users(running, Role.OFFICER)
    right = {"username": "officer", "password": PASSWORDS[Role.OFFICER]}
    async with httpx.AsyncClient(base_url=running.url) as client:
        await client.post("/login", json={"username": "officer", "password": "wrong-wrong"})
        assert (await client.post("/login", json=right)).status_code == 429
        refused = await running.api(Role.OFFICER).delete("/api/v1/login-locks/officer")
        assert refused.status_code == 403
        lifted = await running.api(Role.ADMIN).delete("/api/v1/login-locks/Officer")
        assert lifted.json() == {"username": "officer", "lifted": 1}
        assert (await client.post("/login", json=right)).status_code == 200
    (entry,) = await _audit(running, "user.login_unlocked")
    assert entry == {"actor": "token:test-admin", "username": "officer", "lifted": 1}


async def test_login_rate_limit_per_address(start_hub: StartHub) -> None:
    """After 3 failures from one address (any user names), that address is refused with 429;
    another address still logs in. (The hub trusts X-Forwarded-For from a proxy on 127.0.0.1.)"""
    running = await start_hub(web=WebSection(login_failures_per_address=3))
    await add_users(running, Role.OFFICER)
    attacker = {"X-Forwarded-For": "192.0.2.7"}
    async with httpx.AsyncClient(base_url=running.url) as client:
        for name in ("a", "b", "c"):
            response = await client.post(
                "/login", json={"username": name, "password": "x"}, headers=attacker
            )
            assert response.status_code == 401
        right = {"username": "officer", "password": PASSWORDS[Role.OFFICER]}
        response = await client.post("/login", json=right, headers=attacker)
        assert response.status_code == 429
        assert "for this address" in response.json()["detail"]
        response = await client.post("/login", json=right, headers={"X-Forwarded-For": "192.0.2.8"})
        assert response.status_code == 200


async def test_a_hash_made_with_weaker_parameters_is_upgraded_at_login(
    start_hub: StartHub,
) -> None:
    """A user whose hash predates today's argon2 parameters logs in, and the stored hash is
    replaced by one with today's parameters that still verifies the same password."""
    running = await start_hub()
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash("old-password")

    def add_old(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO users (username, role, password_hash, created_at, updated_at) "
            "VALUES ('old', 'officer', ?, '2020-01-01T00:00:00.000Z', '2020-01-01T00:00:00.000Z')",
            (weak,),
        )

    await run_sql(running, add_old)
    async with httpx.AsyncClient(base_url=running.url) as client:
        response = await client.post("/login", json={"username": "old", "password": "old-password"})
    assert response.status_code == 200
    (row,) = await _rows(running, "SELECT password_hash FROM users WHERE username = 'old'")
    assert row[0] != weak
    assert not needs_rehash(row[0])
    assert verify_password(row[0], "old-password")
