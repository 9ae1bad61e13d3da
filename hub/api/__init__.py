"""The HTTP API (docs/CONTRACT.md, "HTTP"): a FastAPI app built from the hub's parts."""

from __future__ import annotations

from fastapi import FastAPI

from hub.api import acklink, alarms, health, manage, registry, reports, stream, troubles
from hub.api.context import ApiContext, Readiness
from hub.api.headers import SecurityHeaders

__all__ = ["ApiContext", "Readiness", "create_app"]


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="chuong hub",
        version=context.version,
        description="Alarms from call buttons, for the duty officer at the police post.",
    )
    app.state.context = context
    app.add_middleware(SecurityHeaders)
    for module in (health, alarms, registry, troubles, stream, reports, manage, acklink):
        app.include_router(module.router)
    return app
