"""The duty officer's page: static files served by the hub, login, sessions.

    install(app)  adds to the API's app:
      GET  /                 the page (static/index.html)
      GET  /static/…         its script, styles and translations
      POST /login            user name and password → session cookie
      GET  /api/v1/session   who is calling (and the CSRF token of a session)
      DELETE /api/v1/session logout
      DELETE /api/v1/login-locks/{username}   an admin lifts a user name's login locks
      /api/v1/users          the people who log in, for admins (hub/web/users.py)
    and sets `app.state.session_auth`, the hook `hub.api.auth` calls when a request carries no
    bearer token, so that a session authenticates every /api/ route with its user's role.

The page is plain HTML, CSS and JavaScript, written for this project: no build step, nothing
fetched from the internet (the Content-Security-Policy says so to the browser as well).
"""

from __future__ import annotations

import asyncio
import secrets
from importlib import resources
from typing import Final

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from hub.api.context import ApiContext
from hub.web.ratelimit import LoginLimiter
from hub.web.routes import PAGE_HEADERS, WebState, router
from hub.web.session import session_auth
from hub.web.users import router as users_router

__all__ = ["install"]

VERIFY_SLOTS: Final = 2


class _PageFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(PAGE_HEADERS)
        return response


def install(app: FastAPI) -> None:
    context: ApiContext = app.state.context
    web = context.config.web
    app.state.web = WebState(
        index_html=resources.files("hub.web").joinpath("static/index.html").read_text("utf-8"),
        limiter=LoginLimiter(
            per_user=web.login_failures_per_user,
            per_address=web.login_failures_per_address,
            window_s=web.login_window_min * 60,
            monotonic=context.clock.monotonic,
        ),
        verify_slots=asyncio.Semaphore(VERIFY_SLOTS),
        device_key=secrets.token_bytes(32),
    )
    app.state.session_auth = session_auth
    app.include_router(router)
    app.include_router(users_router)
    app.mount("/static", _PageFiles(packages=[("hub.web", "static")]), name="static")
