"""The monthly report read from the store: the API's route and `chuong report monthly` share it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from hub.clock import iso
from hub.domain.model import Site
from hub.reports.monthly import MonthlyReport, month_bounds, monthly_report
from hub.store.db import Reader
from hub.store.reports import AlarmFilter, false_alarm_counts, iter_alarms


class UnknownSite(LookupError):
    """A site neither in the registry nor named by any alarm of the month."""


async def load_monthly(
    reader: Reader,
    sites: Iterable[Site],
    *,
    month: str,
    timezone: str,
    site: str | None,
    now: datetime,
) -> MonthlyReport:
    """The report of `month` (YYYY-MM in `timezone`), for every site or one. Raises ValueError for
    a bad month, UnknownSite for a site nobody knows."""
    bounds = month_bounds(month, timezone)
    where = AlarmFilter(site_id=site, since=iso(bounds.start), until=iso(bounds.end))
    alarms = [alarm async for alarm in iter_alarms(reader, where)]
    listed = list(sites)
    if site is not None:
        listed = [s for s in listed if s.id == site]
        if not listed and not alarms:
            raise UnknownSite(f"no site {site!r}")
    false_alarms = await false_alarm_counts(reader, iso(bounds.window_start), iso(bounds.end), site)
    return monthly_report(
        bounds,
        timezone,
        sites=listed,
        alarms=alarms,
        false_alarms_12m=false_alarms,
        generated_at=now,
    )
