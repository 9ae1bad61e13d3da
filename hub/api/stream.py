"""/api/v1/stream: server-sent events for every alarm, device and trouble change.

Events: `hello` (on connect), `alarm` (the alarm object), `device`, `trouble`, `broker`. A client
that falls `http.stream_queue` events behind is cut off; EventSource reconnects by itself and the
page reloads the lists, so a slow browser never slows the hub.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from hub.api.auth import Context, Viewer
from hub.api.context import ApiContext
from hub.api.registry import device_view
from hub.api.troubles import TroubleView
from hub.domain.bus import (
    AlarmChanged,
    BrokerConnected,
    BrokerDisconnected,
    DeviceChanged,
    Event,
    TroubleChanged,
)
from hub.domain.views import AlarmView

router = APIRouter(prefix="/api/v1", tags=["stream"])

PING_S = 15


def to_sse(ctx: ApiContext, event: Event) -> ServerSentEvent | None:
    if isinstance(event, AlarmChanged):
        return ServerSentEvent(AlarmView.of(event.alarm).model_dump_json(), event="alarm")
    if isinstance(event, DeviceChanged):
        view = device_view(ctx.pipeline.state, event.device.button_id)
        return None if view is None else ServerSentEvent(view.model_dump_json(), event="device")
    if isinstance(event, TroubleChanged):
        return ServerSentEvent(TroubleView.of(event.trouble).model_dump_json(), event="trouble")
    if isinstance(event, BrokerConnected | BrokerDisconnected):
        connected = isinstance(event, BrokerConnected)
        return ServerSentEvent(json.dumps({"connected": connected}), event="broker")
    return None


@router.get("/stream", summary="Live changes as server-sent events")
async def stream(request: Request, ctx: Context, _: Viewer) -> EventSourceResponse:
    subscription = ctx.bus.queue(ctx.config.http.stream_queue)

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            yield ServerSentEvent(
                json.dumps({"hub": ctx.config.hub.id, "version": ctx.version}), event="hello"
            )
            async for event in subscription:
                message = to_sse(ctx, event)
                if message is not None:
                    yield message
        finally:
            subscription.close()

    return EventSourceResponse(events(), ping=PING_S, headers={"Cache-Control": "no-store"})
