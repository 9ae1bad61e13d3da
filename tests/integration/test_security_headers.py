"""Security headers on what the hub answers: the page, the API, the phone's ack page, refusals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from hub.domain.model import Role
from simulator.button import VirtualButton
from tests.conftest import LINK_KEY_NOTIFIER, RunningHub, ack_link

StartHub = Callable[..., Awaitable[RunningHub]]
Buttons = Callable[..., Awaitable[VirtualButton]]

STRICT_PAGE = ("default-src 'none'", "script-src 'self'", "connect-src 'self'")
"""The page's own policy: nothing from anywhere but the hub."""


def _problems(name: str, response: httpx.Response, *, data: bool) -> list[str]:
    """What is missing from one answer. `data`: it carries alarm data, so no cache may keep it."""
    headers = response.headers
    policy = headers.get("content-security-policy", "")
    found = []
    if headers.get("x-content-type-options") != "nosniff":
        found.append("X-Content-Type-Options is not nosniff")
    if headers.get("referrer-policy") not in ("no-referrer", "same-origin"):
        found.append(f"Referrer-Policy is {headers.get('referrer-policy')!r}")
    if "frame-ancestors 'none'" not in policy:
        found.append(f"no frame-ancestors 'none' in {policy!r}")
    if headers.get("x-frame-options") != "DENY":
        found.append(f"X-Frame-Options is {headers.get('x-frame-options')!r}")
    if data and headers.get("cache-control") != "no-store":
        found.append(f"Cache-Control is {headers.get('cache-control')!r}, not no-store")
    if data and "default-src 'none'" not in policy:
        found.append(f"no default-src 'none' in {policy!r}")
    return [f"{name} ({response.status_code}): {problem}" for problem in found]


async def test_page_api_and_phone_ack_page_send_every_security_header(
    start_hub: StartHub, buttons: Buttons
) -> None:
    """The page and its files, API answers (JSON, CSV, the live stream, a refusal, the login
    answer) and the phone's ack page (genuine or refused) all send nosniff, no-referrer and frame
    protection (frame-ancestors 'none' and X-Frame-Options DENY); whatever carries alarm data or
    a credential is also no-store with a default-src 'none' policy; the page keeps its strict
    policy and is revalidated, not stored."""
    running = await start_hub(notifiers={"boss": LINK_KEY_NOTIFIER})
    button = await buttons("bank-1")
    press = await button.press()
    alarm_id = (await button.wait_ack(press.event_id)).ack.alarm
    link = await ack_link(running, alarm_id)
    api = running.api(Role.VIEWER)
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as anonymous:
        page = await anonymous.get("/")
        answers = {
            "page": (page, False),
            "page script": (await anonymous.get("/static/app.js"), False),
            "API description": (await anonymous.get("/openapi.json"), True),
            "alarm list": (await api.get("/api/v1/alarms"), True),
            "one alarm": (await api.get(f"/api/v1/alarms/{alarm_id}"), True),
            "alarms as CSV": (await api.get("/api/v1/reports/alarms.csv"), True),
            "refusal": (await anonymous.get("/api/v1/alarms"), True),
            "readiness": (await anonymous.get("/readyz"), True),
            "login answer": (await anonymous.post("/login", json={"username": "x"}), True),
            "ack page": (await anonymous.get(link), True),
            "refused ack link": (await anonymous.get(link[:-4] + "0000"), True),
        }
        async with api.stream("GET", "/api/v1/stream") as stream:
            answers["live stream"] = (stream, True)
    statuses = {name: response.status_code for name, (response, _) in answers.items()}
    assert statuses == {
        "page": 200,
        "page script": 200,
        "API description": 200,
        "alarm list": 200,
        "one alarm": 200,
        "alarms as CSV": 200,
        "refusal": 401,
        "readiness": 200,
        "login answer": 422,
        "ack page": 200,
        "refused ack link": 403,
        "live stream": 200,
    }
    problems = [p for name, (r, data) in answers.items() for p in _problems(name, r, data=data)]
    assert problems == []
    policy = page.headers["content-security-policy"]
    assert all(directive in policy for directive in STRICT_PAGE), policy
    assert page.headers["cache-control"] == "no-cache"
    assert answers["ack page"][0].headers["x-robots-tag"] == "noindex"
