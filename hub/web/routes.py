"""The page's routes: `/` (the page), `POST /login`, and `/api/v1/session` (who am I; logout).

Login answers 401 for a wrong user name or password (the same answer for both, after the same
work) and 429 with `Retry-After` while a user name or an address has failed too often. Error
bodies carry a `code` (`bad_credentials`, `rate_limited`) the page translates, and a `detail`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_serializer

from hub.api.auth import Admin, Context, Viewer
from hub.api.context import ApiContext
from hub.clock import iso, parse_iso
from hub.domain.model import Role
from hub.store.ops import UserRecord
from hub.web.accounts import (
    PASSWORD_MAX,
    CloseSession,
    OpenSession,
    RecordLoginFailure,
    RecordLoginUnlock,
    hash_password,
    needs_rehash,
    verify_password,
)
from hub.web.ratelimit import LoginLimiter
from hub.web.session import (
    COOKIE,
    DEVICE_COOKIE,
    DEVICE_COOKIE_DAYS,
    csrf_token,
    current_session,
    device_cookie,
    device_of,
    new_session_id,
    session_hash,
    session_id_of,
)

log = logging.getLogger(__name__)

PAGE_HEADERS: Final = {
    # Everything the page uses comes from the hub itself; nothing from the internet. (The other
    # security headers are the hub's defaults: hub/api/headers.py.)
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-cache",  # the page may be kept, but checked again on every load
}


LOCKED: Final = {
    "user": "this user name from this address",
    "address": "this address",
    "device": "this user name in this browser",
}


@dataclass(slots=True)
class WebState:
    """What the page's routes share, kept on `app.state.web`."""

    index_html: str
    limiter: LoginLimiter
    verify_slots: asyncio.Semaphore
    """argon2 verifications at once: each takes 64 MiB and a tenth of a second of CPU"""
    device_key: bytes
    """signs the device cookies (in memory: a restart forgets them, and the locks with them)"""
    dummy_hash: str | None = None
    """verified against when the user name is unknown, so that both cost the same"""


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


Web = Annotated[WebState, Depends(web_state)]

router = APIRouter(tags=["page"])


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)


class HubInfo(BaseModel):
    id: str
    name: str
    timezone: str
    language: str
    version: str


class SessionInfo(BaseModel):
    username: str
    role: Role
    kind: str
    """user (a browser session) or token"""
    csrf_token: str | None
    expires_at: datetime | None
    hub: HubInfo

    @field_serializer("expires_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else iso(value)


class LoginError(BaseModel):
    detail: str
    code: str
    retry_after: int | None = None


def _hub_info(ctx: ApiContext) -> HubInfo:
    hub = ctx.config.hub
    return HubInfo(
        id=hub.id, name=hub.name, timezone=hub.timezone, language=hub.language, version=ctx.version
    )


@router.api_route(
    "/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False
)
async def index(web: Web) -> HTMLResponse:
    return HTMLResponse(web.index_html, headers=PAGE_HEADERS)


def _refuse(code: int, reason: str, detail: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    body = LoginError(detail=detail, code=reason, retry_after=retry_after)
    return JSONResponse(body.model_dump(), status_code=code, headers=headers)


async def _verified(web: WebState, user: UserRecord | None, password: str) -> UserRecord | None:
    """The user if the password is theirs. An unknown user costs as much as a wrong password."""
    async with web.verify_slots:
        if user is None:
            if web.dummy_hash is None:
                web.dummy_hash = await asyncio.to_thread(hash_password, "no one's password")
            await asyncio.to_thread(verify_password, web.dummy_hash, password)
            return None
        ok = await asyncio.to_thread(verify_password, user.password_hash, password)
        return user if ok else None


@router.post(
    "/login",
    response_model=SessionInfo,
    summary="Log in to the page: sets the session cookie",
    responses={401: {"model": LoginError}, 403: {"model": LoginError}, 429: {"model": LoginError}},
)
async def login(
    body: LoginBody, request: Request, ctx: Context, web: Web
) -> SessionInfo | JSONResponse:
    username = body.username.strip().lower()
    address = request.client.host if request.client else "unknown"
    device = device_of(request, web.device_key, username)
    refusal = web.limiter.admit(username, address, device)
    if refusal is not None:
        minutes = max(1, round(refusal.retry_after_s / 60))
        who = LOCKED[refusal.scope]
        # User names are not logged unless known: people type their password into that field.
        log.warning("login: refused from %s (too many failures per %s)", address, refusal.scope)
        return _refuse(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "rate_limited",
            f"too many failed logins for {who}; try again in {minutes} minute(s)",
            refusal.retry_after_s,
        )
    known = await ctx.store.find_user(username)
    user = await _verified(web, known, body.password)
    if user is None:
        name = known.username if known else "(unknown user name)"
        log.warning("login: wrong password for %s from %s", name, address)
        locked = web.limiter.locked(username, address, device)
        await ctx.pipeline.execute(
            RecordLoginFailure(
                known.username if known else None,
                address,
                "wrong password" if known else "unknown user name",
                locked,
            )
        )
        return _refuse(
            status.HTTP_401_UNAUTHORIZED, "bad_credentials", "wrong user name or password"
        )
    if user.disabled:
        # Said only to someone who knows the password: nobody learns from it which names exist.
        await ctx.pipeline.execute(RecordLoginFailure(user.username, address, "disabled"))
        return _refuse(
            status.HTTP_403_FORBIDDEN, "disabled", "this account is disabled: ask an admin"
        )
    web.limiter.succeeded(username, address, device)
    session_id = new_session_id()
    now = ctx.clock.now()
    expires_at = now + timedelta(hours=ctx.config.web.session_hours)
    rehash = (
        await asyncio.to_thread(hash_password, body.password)
        if needs_rehash(user.password_hash)
        else None
    )
    await ctx.pipeline.execute(
        OpenSession(session_hash(session_id), user, expires_at, address, rehash)
    )
    log.info("login: %s (%s) from %s", user.username, user.role.value, address)
    info = SessionInfo(
        username=user.username,
        role=user.role,
        kind="user",
        csrf_token=csrf_token(session_id),
        expires_at=expires_at,
        hub=_hub_info(ctx),
    )
    response = JSONResponse(info.model_dump(mode="json"))
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=int((expires_at - now).total_seconds()),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        DEVICE_COOKIE,
        device_cookie(web.device_key, username),
        max_age=DEVICE_COOKIE_DAYS * 24 * 3600,
        path="/login",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


class Lifted(BaseModel):
    username: str
    lifted: int
    """locks (user name, address) lifted"""


@router.delete(
    "/api/v1/login-locks/{username}",
    response_model=Lifted,
    summary="Lift the login locks of a user name, from every address",
)
async def lift_login_locks(
    username: Annotated[str, Path(min_length=1, max_length=64)], ctx: Context, web: Web, who: Admin
) -> Lifted:
    name = username.strip().lower()
    lifted = web.limiter.lift(name)
    await ctx.pipeline.execute(RecordLoginUnlock(name, who.actor, lifted))
    log.info("login: %s lifted the login locks of %s (%d)", who.actor, name, lifted)
    return Lifted(username=name, lifted=lifted)


@router.get("/api/v1/session", response_model=SessionInfo, summary="Who is calling")
async def who_am_i(request: Request, ctx: Context, who: Viewer) -> SessionInfo:
    session = current_session(request)
    session_id = session_id_of(request)
    return SessionInfo(
        username=who.name,
        role=who.role,
        kind=who.kind,
        csrf_token=csrf_token(session_id) if session and session_id else None,
        expires_at=parse_iso(session.expires_at) if session else None,
        hub=_hub_info(ctx),
    )


@router.delete(
    "/api/v1/session",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out: the session ends now",
)
async def logout(request: Request, ctx: Context, who: Viewer) -> Response:
    session_id = session_id_of(request)
    if who.kind != "user" or session_id is None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, "only a browser session can log out; a token is revoked"
        )
    await ctx.pipeline.execute(CloseSession(session_hash(session_id), who.name))
    log.info("logout: %s", who.name)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        COOKIE, path="/", secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )
    return response
