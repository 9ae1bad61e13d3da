"""The authentication and authorisation matrix: every route the hub serves, for every caller.

The expectation is the decision table below, written by hand: (method, path) → who may call it.
It is not read from the routes' own dependencies (that would test the code against itself), and
the route table is walked, so a route added without a decision here fails the test.

Callers: nobody; a made-up bearer token; a made-up session cookie; a real session past its expiry;
a bearer token of each role; a logged-in session of each role, with its CSRF token on changes, and
without it. Allowed callers get anything but 401 and 403 (a made-up id or an empty body may well
be 404, 409 or 422); refused ones get exactly 401 (not authenticated) or 403 (not allowed), with
the reason in the body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, Literal

import httpx
from fastapi.routing import APIRoute
from starlette.routing import Mount

from hub.domain.model import Role
from hub.web.session import COOKIE, CSRF_HEADER, SAFE_METHODS, session_hash
from simulator.button import VirtualButton
from tests.conftest import LINK_KEY_NOTIFIER, RunningHub, ack_link, route_contexts
from tests.web.conftest import PASSWORDS, add_users, run_sql

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]

Public = Literal["public"]
PUBLIC: Final[Public] = "public"

DECISIONS: Final[dict[tuple[str, str], Role | Public]] = {
    # FastAPI's description of the API: it describes routes (all in the public source), never
    # alarms, buttons or people; /docs shows it, with Swagger UI served by the hub itself.
    ("GET", "/openapi.json"): PUBLIC,
    ("HEAD", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/start.js"): PUBLIC,
    ("GET", "/docs/assets/{name}"): PUBLIC,
    # systemd, the load balancer and the page's "hub lost" bar ask these without a login; they
    # say "alive", "ready or why not" and the version, nothing about alarms.
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    # Prometheus scrapes without credentials (bind the hub to the post's network): counters only.
    ("GET", "/metrics"): PUBLIC,
    # The page's shell and its static files: no data in them; the data comes from /api/ once
    # logged in.
    ("GET", "/"): PUBLIC,
    ("HEAD", "/"): PUBLIC,
    ("GET", "/static/{path}"): PUBLIC,
    ("HEAD", "/static/{path}"): PUBLIC,
    # How a session is obtained: the user name and password are the credential.
    ("POST", "/login"): PUBLIC,
    # The phone link to acknowledge: the signed link (one alarm, one person, until it expires)
    # is the credential; a wrong one is refused by the route itself (test_acklink.py).
    ("GET", "/ack/{alarm_id}/{person}/{expires}/{signature}"): PUBLIC,
    ("POST", "/ack/{alarm_id}/{person}/{expires}/{signature}"): PUBLIC,
    # Reading is for every logged-in role.
    ("GET", "/api/v1/alarms"): Role.VIEWER,
    ("GET", "/api/v1/alarms/{alarm_id}"): Role.VIEWER,
    ("GET", "/api/v1/devices"): Role.VIEWER,
    ("GET", "/api/v1/devices/{button_id}"): Role.VIEWER,
    ("GET", "/api/v1/sites"): Role.VIEWER,
    ("GET", "/api/v1/troubles"): Role.VIEWER,
    ("GET", "/api/v1/rejected"): Role.VIEWER,
    ("GET", "/api/v1/stream"): Role.VIEWER,
    ("GET", "/api/v1/cap/alarms.atom"): Role.VIEWER,
    ("GET", "/api/v1/cap/alarms/{alarm_id}.xml"): Role.VIEWER,
    ("GET", "/api/v1/reports/alarms.csv"): Role.VIEWER,
    ("GET", "/api/v1/reports/monthly"): Role.VIEWER,
    ("GET", "/api/v1/reports/untested"): Role.VIEWER,
    ("GET", "/api/v1/session"): Role.VIEWER,
    ("DELETE", "/api/v1/session"): Role.VIEWER,  # anyone logged in may log out
    # Lifting another person's login lock is the admin's.
    ("DELETE", "/api/v1/login-locks/{username}"): Role.ADMIN,
    # Handling alarms is the duty officer's (an admin may also resolve an unacknowledged one).
    ("POST", "/api/v1/alarms/{alarm_id}/ack"): Role.OFFICER,
    ("POST", "/api/v1/alarms/{alarm_id}/resolve"): Role.OFFICER,
    # The registry and latched troubles are the installer's.
    ("POST", "/api/v1/devices"): Role.ADMIN,
    ("PATCH", "/api/v1/devices/{button_id}"): Role.ADMIN,
    ("DELETE", "/api/v1/devices/{button_id}"): Role.ADMIN,
    ("PUT", "/api/v1/devices/{button_id}/test-mode"): Role.ADMIN,
    ("POST", "/api/v1/sites"): Role.ADMIN,
    ("PATCH", "/api/v1/sites/{site_id}"): Role.ADMIN,
    ("DELETE", "/api/v1/sites/{site_id}"): Role.ADMIN,
    ("PUT", "/api/v1/sites/{site_id}/test-mode"): Role.ADMIN,
    ("POST", "/api/v1/troubles/{trouble_id}/clear"): Role.ADMIN,
    ("GET", "/api/v1/users"): Role.ADMIN,
    ("GET", "/api/v1/registry.toml"): Role.ADMIN,
    ("POST", "/api/v1/registry/import"): Role.ADMIN,
    # API tokens: the credentials of other programs; making one is giving out a role.
    ("GET", "/api/v1/tokens"): Role.ADMIN,
    ("POST", "/api/v1/tokens"): Role.ADMIN,
    ("DELETE", "/api/v1/tokens/{name}"): Role.ADMIN,
    ("GET", "/api/v1/users/names"): Role.VIEWER,
    ("POST", "/api/v1/users"): Role.ADMIN,
    ("PATCH", "/api/v1/users/{username}"): Role.ADMIN,
    ("DELETE", "/api/v1/users/{username}"): Role.ADMIN,
}

STREAM: Final = "/api/v1/stream"
LOGOUT: Final = ("DELETE", "/api/v1/session")
"""Called last by each caller: it ends a session the caller's other requests need."""


def served(running: RunningHub) -> set[tuple[str, str]]:
    """(method, path) of every route the hub serves; a mount of files as `{path}` under it."""
    found: set[tuple[str, str]] = set()
    for route in route_contexts(running.app):
        original = route.original_route
        if isinstance(original, Mount):
            found |= {("GET", f"{original.path}/{{path}}"), ("HEAD", f"{original.path}/{{path}}")}
        else:
            assert route.path is not None, route
            found |= {(method, route.path) for method in route.methods or ()}
    return found


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role | None
    """None: the hub must not know who this is"""
    headers: dict[str, str] = field(default_factory=dict)
    session: bool = False
    csrf: str | None = None
    """sent on state-changing calls"""

    def expect(self, method: str, need: Role | Public) -> int | None:
        """The exact refusal (401, 403) this caller must get, or None if it is allowed."""
        if not isinstance(need, Role):
            return None
        if self.role is None:
            return 401
        if self.session and method not in SAFE_METHODS and self.csrf is None:
            return 403  # a change made with a session needs its CSRF token, whatever the role
        return None if self.role.allows(need) else 403

    def request_headers(self, method: str) -> dict[str, str]:
        if self.csrf is not None and method not in SAFE_METHODS:
            return {**self.headers, CSRF_HEADER: self.csrf}
        return self.headers


async def _log_in(running: RunningHub, role: Role) -> tuple[str, str]:
    """(session id, CSRF token) of a fresh login as the user `<role>` (in a client of its own:
    the callers send their cookie by hand, never from a shared cookie jar)."""
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        response = await client.post(
            "/login", json={"username": role.value, "password": PASSWORDS[role]}
        )
    assert response.status_code == 200, response.text
    return response.cookies[COOKIE], response.json()["csrf_token"]


async def _callers(running: RunningHub) -> tuple[list[Caller], str]:
    """Every kind of caller, and the id hash of the expired session's row."""
    await add_users(running, *Role)
    callers = [
        Caller("nobody", None),
        Caller("made-up token", None, {"Authorization": "Bearer chuong_made-up-0123456789"}),
        Caller("made-up session", None, {"Cookie": f"{COOKIE}=made-up-session-id"}, True),
    ]
    for role in Role:
        bearer = {"Authorization": f"Bearer {running.tokens[role]}"}
        callers.append(Caller(f"{role.value} token", role, bearer))
    for role in Role:
        session_id, csrf = await _log_in(running, role)
        cookie = {"Cookie": f"{COOKIE}={session_id}"}
        callers.append(Caller(f"{role.value} session", role, cookie, True, csrf))
        session_id, _ = await _log_in(running, role)
        cookie = {"Cookie": f"{COOKIE}={session_id}"}
        callers.append(Caller(f"{role.value} session without CSRF", role, cookie, True))
    # Last: a login deletes the expired sessions it finds, and this one must stay a row.
    expired_id, expired_csrf = await _log_in(running, Role.ADMIN)
    expired_hash = session_hash(expired_id)
    moved = await run_sql(
        running,
        lambda conn: (
            conn.execute(
                "UPDATE sessions SET expires_at = '2001-01-01T00:00:00.000Z' WHERE id_hash = ?",
                (expired_hash,),
            ).rowcount
        ),
    )
    assert moved == 1
    callers.append(
        Caller("expired session", None, {"Cookie": f"{COOKIE}={expired_id}"}, True, expired_csrf)
    )
    return callers, expired_hash


async def _path_values(running: RunningHub, buttons: Buttons) -> dict[str, str]:
    """A real alarm, and a genuine phone link to it; made-up ids elsewhere (nothing is removed)."""
    button = await buttons("bank-1")
    press = await button.press()
    alarm_id = (await button.wait_ack(press.event_id)).ack.alarm
    _, _, _, person, expires, signature = (await ack_link(running, alarm_id)).split("/")
    return {
        "alarm_id": alarm_id,
        "person": person,
        "expires": expires,
        "signature": signature,
        "button_id": "nobody",
        "site_id": "nowhere",
        "trouble_id": "999999",
        "username": "nobody",
        "path": "app.js",
        "name": "swagger-ui.css",
    }


async def _call(
    client: httpx.AsyncClient, caller: Caller, method: str, path: str
) -> httpx.Response:
    request = client.build_request(method, path, headers=caller.request_headers(method))
    response = await client.send(request, stream=True)
    try:
        if path != STREAM or response.status_code in (401, 403):
            await response.aread()  # the live stream never ends: its status line is enough
    finally:
        await response.aclose()
        client.cookies.clear()  # a logout's Set-Cookie must not reach the next caller
    return response


def _wrong(caller: Caller, method: str, need: Role | Public, got: httpx.Response) -> str:
    """Why this answer is wrong, or '' if it is right."""
    status = got.status_code
    refusal = caller.expect(method, need)
    if refusal is None:
        return f"{status} (must be allowed)" if status in (401, 403) or status >= 500 else ""
    if status != refusal:
        return f"{status} (must be {refusal})"
    return "" if method == "HEAD" else _unexplained(caller, method, need, got)


def _unexplained(caller: Caller, method: str, need: Role | Public, refused: httpx.Response) -> str:
    """What a refusal fails to say: its reason, and for a 401 how to authenticate."""
    detail = refused.json().get("detail")
    if not isinstance(detail, str) or not detail:
        return f"{refused.status_code} without a reason: {refused.text[:80]}"
    if refused.status_code == 401:
        challenge = refused.headers.get("www-authenticate")
        return "" if challenge == "Bearer" else f"401 with WWW-Authenticate {challenge!r}"
    needs_csrf = caller.session and caller.csrf is None and method not in SAFE_METHODS
    reason = "CSRF" if needs_csrf else f"the {need} role"
    return "" if reason in detail else f"403 whose reason does not say {reason!r}: {detail}"


async def test_every_route_answers_every_caller_as_decided(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """Every served (method, path) has a decision, and each of 13 callers gets exactly what the
    table decides: allowed (never 401/403) or refused with 401/403 and its reason."""
    running = await start_hub(notifiers={"boss": LINK_KEY_NOTIFIER})
    routes = served(running)
    assert routes - DECISIONS.keys() == set(), "served without a decision in DECISIONS"
    assert DECISIONS.keys() - routes == set(), "decided but no longer served: drop the decision"
    values = await _path_values(running, buttons)
    ordered = sorted(routes, key=lambda route: (route == LOGOUT, route))
    wrong: list[str] = []
    requests = 0
    callers, expired = await _callers(running)
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        for caller in callers:
            for method, route in ordered:
                response = await _call(client, caller, method, route.format(**values))
                requests += 1
                if why := _wrong(caller, method, DECISIONS[method, route], response):
                    wrong.append(f"{caller.name}: {method} {route}: {why}")
    assert wrong == []
    rows = await run_sql(
        running,
        lambda conn: conn.execute(
            "SELECT count(*) FROM sessions WHERE id_hash = ?", (expired,)
        ).fetchone()[0],
    )
    assert rows == 1, "the expired session was refused as expired, not as unknown"
    assert len(callers) == 13
    assert requests == len(routes) * len(callers)


async def test_every_route_declares_the_role_the_table_decides(start_hub: StartHub) -> None:
    """Each API route's `require(role)` dependency names the role of the decision table, and no
    public route has one: the code says what the table says (the matrix above proves it acts
    so)."""
    running = await start_hub()
    declared: dict[tuple[str, str], Role | Public] = {}
    for route in route_contexts(running.app):
        if not isinstance(route.original_route, APIRoute):
            continue
        roles = [
            Role(role)
            for dependency in route.dependant.dependencies
            if (role := getattr(dependency.call, "required_role", None)) is not None
        ]
        assert len(roles) <= 1, route.path
        for method in route.methods or ():
            declared[method, route.path] = roles[0] if roles else PUBLIC
    assert len(declared) >= 30
    assert declared == {key: DECISIONS[key] for key in declared}
