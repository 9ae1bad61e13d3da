"""/api/v1/reports: the alarms as CSV, and the monthly report per site (viewer role)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import StreamingResponse

from hub.api.auth import Context, Viewer
from hub.api.params import Moment
from hub.clock import iso
from hub.domain.model import AlarmState, Outcome
from hub.reports.monthly import CSV_COLUMNS, MonthlyReport, csv_row, month_bounds, monthly_report
from hub.store.reports import AlarmFilter, false_alarm_counts, iter_alarms

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


def _csv_line(values: list[str] | tuple[str, ...]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()


@router.get(
    "/alarms.csv",
    response_class=StreamingResponse,
    summary="Alarms as CSV (UTF-8 with BOM, oldest first), with the history's filters",
    responses={200: {"content": {"text/csv": {}}}},
)
async def alarms_csv(
    ctx: Context,
    _: Viewer,
    state: Annotated[list[AlarmState], Query(description="repeat for several")] = [],  # noqa: B006
    site: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[Moment | None, Query(description="raised at or after (ISO-8601)")] = None,
    until: Annotated[Moment | None, Query(description="raised before (ISO-8601)")] = None,
    outcome: Outcome | None = None,
) -> StreamingResponse:
    where = AlarmFilter(
        states=[s.value for s in state],
        site_id=site,
        since=iso(since) if since else None,
        until=iso(until) if until else None,
        outcome=outcome.value if outcome else None,
    )
    zone = ZoneInfo(ctx.config.hub.timezone)

    async def lines() -> AsyncIterator[str]:
        yield "\ufeff" + _csv_line(CSV_COLUMNS)  # the BOM makes spreadsheets read UTF-8
        async for alarm in iter_alarms(ctx.store.reader, where):
            yield _csv_line(csv_row(alarm, zone))

    stamp = ctx.clock.now().astimezone(zone).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="chuong-alarms-{stamp}.csv"'},
    )


@router.get(
    "/monthly",
    response_model=MonthlyReport,
    summary="The monthly report per site: alarms, outcomes, time to acknowledge, false alarms",
)
async def monthly(
    ctx: Context,
    _: Viewer,
    month: Annotated[str, Query(pattern=MONTH_PATTERN, description="YYYY-MM, in hub.timezone")],
    site: Annotated[str | None, Query(max_length=64, description="one site only")] = None,
) -> MonthlyReport:
    timezone = ctx.config.hub.timezone
    try:
        bounds = month_bounds(month, timezone)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None  # the status name changed in Starlette
    reader = ctx.store.reader
    where = AlarmFilter(site_id=site, since=iso(bounds.start), until=iso(bounds.end))
    alarms = [alarm async for alarm in iter_alarms(reader, where)]
    registry = ctx.pipeline.state.registry
    sites = list(registry.sites.values())
    if site is not None:
        sites = [s for s in sites if s.id == site]
        if not sites and not alarms:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site!r}")
    false_alarms = await false_alarm_counts(reader, iso(bounds.window_start), iso(bounds.end), site)
    return monthly_report(
        bounds,
        timezone,
        sites=sites,
        alarms=alarms,
        false_alarms_12m=false_alarms,
        generated_at=ctx.clock.now(),
    )
