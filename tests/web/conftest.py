"""Fixtures for the page: a hub with one user per role, logged-in API clients, and a real headless
Chromium (Debian's `chromium`, driven by Playwright; never `playwright install`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from hub.clock import SystemClock, iso
from hub.domain.model import Role
from hub.store.db import open_sync_at
from hub.web.accounts import hash_password
from tests.conftest import RunningHub, store_location

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORDS = {
    Role.VIEWER: "xem-thoi-1234",
    Role.OFFICER: "truc-ban-5678",
    Role.ADMIN: "quan-tri-9012",
}
"""User `<role>` (viewer, officer, admin) has this password."""

StartHub = Callable[..., Awaitable[RunningHub]]
T = TypeVar("T")


@dataclass
class Session:
    """An API client logged in with a session cookie (no bearer token)."""

    client: httpx.AsyncClient
    csrf: str
    info: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}


def run_sql(running: RunningHub, work: Callable[[sqlite3.Connection], T]) -> Awaitable[T]:
    """Run `work` on a command-line style connection to the hub's store (SQLite or PostgreSQL),
    off the event loop: the in-process hub's writer needs the loop to finish a transaction a
    blocked loop would wait on."""

    def run() -> T:
        with contextlib.closing(open_sync_at(store_location(running.config))) as conn:
            return work(conn)

    return asyncio.to_thread(run)


@functools.cache
def _password_hash(role: Role) -> str:
    return hash_password(PASSWORDS[role])  # a real argon2id hash, made once per test run


async def add_users(running: RunningHub, *roles: Role) -> None:
    """Create user `<role>` for each role, with the password of `PASSWORDS` (`add_user` itself is
    tested in tests/hub/web; here the slow hashes are made once and reused)."""

    def add(conn: sqlite3.Connection) -> None:
        now = iso(SystemClock().now())
        conn.executemany(
            "INSERT INTO users (username, role, password_hash, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(role.value, role.value, _password_hash(role), now, now) for role in roles],
        )

    await run_sql(running, add)


@pytest.fixture
async def web_hub(start_hub: StartHub) -> RunningHub:
    """A hub (sample registry) with the users viewer, officer and admin."""
    running = await start_hub()
    await add_users(running, *Role)
    return running


@pytest.fixture
async def login() -> AsyncIterator[Callable[..., Awaitable[Session]]]:
    """Log in through `POST /login`; the client keeps the cookie."""
    clients: list[httpx.AsyncClient] = []

    async def log_in(running: RunningHub, role: Role, **client_args: Any) -> Session:
        client = httpx.AsyncClient(base_url=running.url, timeout=10, **client_args)
        clients.append(client)
        response = await client.post(
            "/login", json={"username": role.value, "password": PASSWORDS[role]}
        )
        assert response.status_code == 200, response.text
        info = response.json()
        return Session(client, info["csrf_token"], info)

    yield log_in
    for client in clients:
        await client.aclose()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh page (its own cookies and storage, a PC clock in New York's zone) that fails the
    test on a script error."""
    # The post's PC may be set to any zone: the page must show the hub's (Asia/Ho_Chi_Minh).
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900}, locale="vi-VN", timezone_id="America/New_York"
    )
    context.set_default_timeout(10_000)
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    await context.close()
    assert not errors, f"the page raised: {errors}"


async def log_in_page(page: Page, running: RunningHub, role: Role) -> None:
    """Open the page, log in as `role`, and wait until the live stream has loaded the lists."""
    await page.goto(running.url)
    await page.fill("#login-username", role.value)
    await page.fill("#login-password", PASSWORDS[role])
    await page.click("#login-submit")
    await page.wait_for_selector("#conn[data-state=live]")
