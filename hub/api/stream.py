"""/api/v1/stream: server-sent events for every alarm, device and trouble change.

Events: `hello` (on connect), `alarm` (the alarm object), `device`, `trouble`, `broker`. A client
that falls `http.stream_queue` events behind is cut off; EventSource reconnects by itself and the
page reloads the lists, so a slow browser never slows the hub.

Every change event has an `id:` (`<run>-<number>`). A client that reconnects with `Last-Event-ID`
(as EventSource does by itself) first gets the events it missed, in order, then the live ones. When
they cannot be told (the hub restarted, or too many passed), it gets a `reset` event instead:
reload the lists, as after a first connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from hub.api.auth import Context, Viewer
from hub.api.context import ApiContext
from hub.api.registry import device_view
from hub.api.troubles import TroubleView
from hub.domain.bus import (
    AlarmChanged,
    BrokerConnected,
    BrokerDisconnected,
    Bus,
    DeviceChanged,
    Event,
    EventQueue,
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


def _missed(bus: Bus, last_event_id: str | None) -> list[tuple[int, Event]] | None:
    """The events after `Last-Event-ID`: [] without one; None when they cannot be told."""
    if last_event_id is None:
        return []
    run, _, number = last_event_id.partition("-")
    if run != bus.run or not number.isdigit():
        return None
    return bus.since(int(number))


def _user_streams(app: Any) -> dict[str, set[EventQueue]]:
    found: dict[str, set[EventQueue]] | None = getattr(app.state, "user_streams", None)
    if found is None:
        found = app.state.user_streams = {}
    return found


def end_streams_of(app: Any, username: str) -> int:
    """End the live streams a person's sessions have open (they were disabled or removed, or their
    password changed): their pages reconnect, are refused, and show the login. How many ended."""
    streams = _user_streams(app).pop(username, set())
    for subscription in streams:
        subscription.close()
    return len(streams)


@router.get("/stream", summary="Live changes as server-sent events")
async def stream(
    request: Request,
    ctx: Context,
    who: Viewer,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> EventSourceResponse:
    subscription = ctx.bus.queue(ctx.config.http.stream_queue)  # first: nothing falls between
    missed = _missed(ctx.bus, last_event_id)
    mine = _user_streams(request.app).setdefault(who.name, set()) if who.kind == "user" else set()
    mine.add(subscription)

    def numbered(seq: int, event: Event) -> ServerSentEvent | None:
        message = to_sse(ctx, event)
        if message is not None:
            message.id = f"{ctx.bus.run}-{seq}"
        return message

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            yield ServerSentEvent(
                json.dumps({"hub": ctx.config.hub.id, "version": ctx.version}), event="hello"
            )
            if missed is None:
                yield ServerSentEvent(json.dumps({"reload": True}), event="reset")
            seen = 0
            for seq, event in missed or []:
                seen = seq
                if (message := numbered(seq, event)) is not None:
                    yield message
            async for seq, event in subscription.numbered():
                if seq > seen and (message := numbered(seq, event)) is not None:
                    yield message
        finally:
            subscription.close()
            mine.discard(subscription)

    return EventSourceResponse(events(), ping=PING_S, headers={"Cache-Control": "no-store"})
