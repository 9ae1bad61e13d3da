"""The HTTP API (docs/CONTRACT.md, "HTTP"): a FastAPI app built from the hub's parts (errors:
hub/api/errors.py)."""

from __future__ import annotations

from fastapi import FastAPI

from hub.api import (
    acklink,
    alarms,
    apitokens,
    cap,
    docs,
    errors,
    health,
    manage,
    registry,
    reports,
    stream,
    troubles,
)
from hub.api.bodies import BodyLimit
from hub.api.context import ApiContext, Readiness
from hub.api.headers import SecurityHeaders, internal_error

__all__ = ["ApiContext", "Readiness", "create_app"]


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="chuong hub",
        version=context.version,
        description="Alarms from call buttons, for the duty officer at the police post.",
        # FastAPI's Swagger UI and ReDoc pages load their scripts from a CDN: not served. /docs is
        # hub/api/docs.py, every asset from the hub itself.
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = context
    app.add_middleware(
        BodyLimit,
        default=context.config.http.max_body_kib * 1024,
        route_limits={manage.IMPORT_PATH: manage.IMPORT_MAX_BYTES},
        on_refused=context.metrics.http_bodies_refused.inc,
    )
    app.add_middleware(SecurityHeaders)  # added last: outside the body limit, so its 413 has them
    app.add_exception_handler(Exception, internal_error)
    errors.install(app)
    modules = (
        health,
        alarms,
        cap,
        registry,
        troubles,
        stream,
        reports,
        manage,
        apitokens,
        acklink,
        docs,
    )
    for module in modules:
        app.include_router(module.router)
    return app
