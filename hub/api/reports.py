"""/api/v1/reports: the alarms as CSV, and the monthly report per site (viewer role)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, status
from fastapi.responses import StreamingResponse

from hub.api.auth import Context, Viewer
from hub.api.errors import refused, responses, unprocessable
from hub.api.params import Moment
from hub.clock import iso
from hub.domain.model import AlarmState, Outcome
from hub.reports.load import UnknownSite, load_monthly
from hub.reports.monthly import CSV_COLUMNS, MonthlyReport, csv_row
from hub.store.reports import AlarmFilter, iter_alarms

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
    responses=responses(404),
)
async def monthly(
    ctx: Context,
    _: Viewer,
    month: Annotated[str, Query(pattern=MONTH_PATTERN, description="YYYY-MM, in hub.timezone")],
    site: Annotated[str | None, Query(max_length=64, description="one site only")] = None,
) -> MonthlyReport:
    try:
        return await load_monthly(
            ctx.store.reader,
            ctx.pipeline.state.registry.sites.values(),
            month=month,
            timezone=ctx.config.hub.timezone,
            site=site,
            now=ctx.clock.now(),
        )
    except ValueError as exc:
        raise unprocessable(str(exc), "query", "month") from None
    except UnknownSite as exc:
        raise refused(status.HTTP_404_NOT_FOUND, str(exc), "site_not_found", site=site) from None
