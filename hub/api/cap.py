"""/api/v1/cap: alarms as CAP 1.2 (OASIS), one document per alarm and an Atom feed (viewer role).

For other systems (a district's, a province's, a public warning platform) to take the post's
alarms in the standard's shape; the mapping is in hub/reports/cap.py and docs/HTTP.md.
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response

from hub.api.auth import Context, Viewer
from hub.api.context import ApiContext
from hub.api.errors import responses
from hub.domain.model import Alarm, AlarmState
from hub.reports.cap import CAP_MEDIA_TYPE, CapSource, atom_feed, cap_xml, sender_of

router = APIRouter(prefix="/api/v1/cap", tags=["cap"])

ATOM_MEDIA_TYPE = "application/atom+xml"


def _source(ctx: ApiContext) -> CapSource:
    return CapSource(sender=sender_of(ctx.config.hub.id), zone=ZoneInfo(ctx.config.hub.timezone))


def _position(ctx: ApiContext, alarm: Alarm) -> tuple[float, float] | None:
    if alarm.site is None:
        return None
    site = ctx.pipeline.state.registry.sites.get(alarm.site.id)
    if site is None or site.lat is None or site.lon is None:
        return None
    return (site.lat, site.lon)


@router.get(
    "/alarms/{alarm_id}.xml",
    response_class=Response,
    summary="One alarm as a CAP 1.2 message, as it is now",
    responses={200: {"content": {CAP_MEDIA_TYPE: {}}}, **responses(404)},
)
async def alarm_cap(alarm_id: str, ctx: Context, _: Viewer) -> Response:
    alarm = await ctx.store.get_alarm(alarm_id)
    if alarm is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alarm {alarm_id!r}")
    body = cap_xml(alarm, _source(ctx), position=_position(ctx, alarm))
    return Response(body, media_type=CAP_MEDIA_TYPE)


@router.get(
    "/alarms.atom",
    response_class=Response,
    summary="The latest alarms as an Atom feed, each entry carrying its CAP 1.2 message",
    responses={200: {"content": {ATOM_MEDIA_TYPE: {}}}},
)
async def alarms_feed(
    request: Request,
    ctx: Context,
    _: Viewer,
    limit: Annotated[int, Query(ge=1, le=500, description="how many alarms")] = 50,
    open_only: Annotated[bool, Query(alias="open", description="only alarms not resolved")] = False,
) -> Response:
    states = [AlarmState.ACTIVE.value, AlarmState.ACKNOWLEDGED.value] if open_only else []
    found = await ctx.store.list_alarms(
        states=states, site_id=None, since=None, until=None, outcome=None, limit=limit, offset=0
    )
    entry_url = str(request.url_for("alarm_cap", alarm_id="{id}")).replace("%7Bid%7D", "{id}")
    body = atom_feed(
        [(alarm, _position(ctx, alarm)) for alarm in found],
        _source(ctx),
        self_url=str(request.url),
        entry_url=entry_url,
        now=ctx.clock.now(),
    )
    return Response(body, media_type=ATOM_MEDIA_TYPE)
