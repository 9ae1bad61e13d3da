"""Browser sessions: the cookie, the CSRF token, and the hook `hub.api.auth` calls.

- The cookie `chuong_session` holds 256 random bits; the store keeps only their SHA-256. It is
  HttpOnly (scripts cannot read it), SameSite=Strict (other sites' pages do not send it) and
  Secure when the page is served over https (directly or behind a proxy that says so).
- The CSRF token is an HMAC of the session id, so the hub can check it without storing it and a
  page of another origin cannot compute it. The page gets it from `GET /api/v1/session` (or the
  login answer) and sends it as `X-CSRF-Token` with every call that changes something. Calls with
  a bearer token need none: a browser never adds that header by itself.
- The device cookie `chuong_device` (HttpOnly, SameSite=Strict, path /login, a year) marks a
  browser that logged in as a user before: its login attempts are counted for it alone, so
  failures elsewhere cannot lock it out (`hub.web.ratelimit`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from fastapi import Request, status

from hub.api.auth import Principal, context
from hub.api.errors import refused
from hub.store.ops import SessionRecord

COOKIE: Final = "chuong_session"
DEVICE_COOKIE: Final = "chuong_device"
DEVICE_COOKIE_DAYS: Final = 365
CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_SESSION_ID_MAX: Final = 128


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def csrf_token(session_id: str) -> str:
    return hmac.new(session_id.encode("utf-8"), b"chuong-csrf-v1", hashlib.sha256).hexdigest()


def device_cookie(key: bytes, username: str) -> str:
    """The device cookie a browser gets at a login: a random id, signed for this user name with
    the hub's key (kept in memory: a restart forgets the locks and the devices alike)."""
    device = secrets.token_urlsafe(12)
    return f"{device}.{_device_mac(key, username, device)}"


def device_of(request: Request, key: bytes, username: str) -> str | None:
    """The id of the request's device cookie if it is genuine for this user name, else None."""
    value = request.cookies.get(DEVICE_COOKIE, "")
    device, _, mac = value.partition(".")
    if not device or len(value) > _SESSION_ID_MAX:
        return None
    expected = _device_mac(key, username, device)
    return device if hmac.compare_digest(mac.encode(), expected.encode()) else None


def _device_mac(key: bytes, username: str, device: str) -> str:
    message = f"chuong-device-v1\n{username}\n{device}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def session_id_of(request: Request) -> str | None:
    session_id = request.cookies.get(COOKIE)
    if not session_id or len(session_id) > _SESSION_ID_MAX:
        return None
    return session_id


def current_session(request: Request) -> SessionRecord | None:
    """The session `session_auth` found for this request, if it authenticated it."""
    found: SessionRecord | None = getattr(request.state, "session", None)
    return found


async def session_auth(request: Request) -> Principal | None:
    """The user of a live session cookie, or None. A state-changing call made with a session must
    carry its CSRF token, or it is refused (403) whatever the user's role."""
    session_id = session_id_of(request)
    if session_id is None:
        return None
    ctx = context(request)
    found = await ctx.store.find_session(session_hash(session_id), ctx.clock.now())
    if found is None:
        return None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode("utf-8"), csrf_token(session_id).encode("utf-8")):
            raise refused(
                status.HTTP_403_FORBIDDEN,
                f"the CSRF token is missing or wrong: a change made with a session needs the "
                f"{CSRF_HEADER} header the page got at login (reload the page)",
                "csrf",
            )
    request.state.session = found
    return Principal(found.username, found.role, "user")
