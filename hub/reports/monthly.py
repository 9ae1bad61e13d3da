"""What the post reports to the district: the monthly report per site, and the CSV export.

Pure: alarms in, figures and rows out. Months are calendar months of the hub's time zone
(`hub.timezone`, Asia/Ho_Chi_Minh by default), turned into UTC bounds for the store.

Counted per site, for the month:
- `alarms`: real alarms raised (test alarms are counted apart, in `tests`);
- `outcomes`: how the real alarms ended (`open` for those not resolved yet);
- `ack`: time from raising to acknowledgement of the real alarms: median, longest, and how many
  within 30 s and 60 s (the figures alarm-receiving standards ask for); `unacknowledged` are those
  never acknowledged (still active, or closed by an admin without acknowledging), of which
  `waiting` are still active: someone may yet acknowledge them (the page counts only the others as
  "never acknowledged", so that an alarm raised a moment ago is not held against the post);
- `false_alarms_12m`: real alarms closed as false alarms in the 12 months ending with the month,
  which is what police policies on repeated false alarms count;
- `kinds`: the real alarms by kind (holdup, fire, medical, assistance, comm_loss), every kind
  listed, 0 when none; an alarm the officer resolved as a test is not counted (as the page's
  alarms column does not count it).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from zoneinfo import ZoneInfo

from pydantic import BaseModel, field_serializer

from hub.clock import iso
from hub.domain.model import Alarm, AlarmKind, AlarmState, Outcome, Site

ACK_TARGETS_S: Final = (30, 60)
OPEN: Final = "open"
CSV_COLUMNS: Final = (
    "id",
    "state",
    "test",
    "unregistered",
    "site_id",
    "site_name",
    "site_address",
    "buttons",
    "press_count",
    "level",
    "raised_at",
    "raised_at_local",
    "acknowledged_at",
    "acknowledged_by",
    "seconds_to_ack",
    "resolved_at",
    "resolved_by",
    "outcome",
    "note",
    "kind",
)
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class MonthBounds:
    month: str
    start: datetime
    """the first instant of the month in the hub's time zone, in UTC"""
    end: datetime
    """the first instant of the next month"""
    window_start: datetime
    """the first instant of the 12-month window that ends with this month"""


def _month_start(year: int, month: int, zone: ZoneInfo) -> datetime:
    while month < 1:
        year, month = year - 1, month + 12
    while month > 12:
        year, month = year + 1, month - 12
    return datetime(year, month, 1, tzinfo=zone).astimezone(UTC)


def month_bounds(month: str, timezone: str) -> MonthBounds:
    """Bounds of `YYYY-MM` in `timezone`. Raises ValueError for a malformed month."""
    year_text, _, month_text = month.partition("-")
    if len(year_text) != 4 or len(month_text) != 2:
        raise ValueError(f"a month is written YYYY-MM, not {month!r}")
    year, number = int(year_text), int(month_text)
    if not 1 <= number <= 12 or year < 1970:
        raise ValueError(f"no such month: {month!r}")
    zone = ZoneInfo(timezone)
    return MonthBounds(
        month=month,
        start=_month_start(year, number, zone),
        end=_month_start(year, number + 1, zone),
        window_start=_month_start(year, number - 11, zone),
    )


class AckSummary(BaseModel):
    acknowledged: int
    unacknowledged: int
    waiting: int
    """of `unacknowledged`: still active when the report was made"""
    median_s: float | None
    max_s: float | None
    within_30s: int
    within_60s: int


class Figures(BaseModel):
    alarms: int
    tests: int
    outcomes: dict[str, int]
    """genuine, false_alarm, test, other, open: how the month's real alarms ended"""
    ack: AckSummary
    false_alarms_12m: int
    kinds: dict[str, int]
    """real alarms by kind (every kind, 0 when none)"""


class SiteFigures(Figures):
    site_id: str | None
    """null: alarms from buttons the registry does not know"""
    site_name: str
    address: str
    phone: str


class MonthlyReport(BaseModel):
    month: str
    timezone: str
    start: datetime
    end: datetime
    window_start: datetime
    generated_at: datetime
    sites: list[SiteFigures]
    total: Figures

    @field_serializer("start", "end", "window_start", "generated_at")
    def _utc(self, value: datetime) -> str:
        return iso(value)


def _ack_summary(alarms: list[Alarm]) -> AckSummary:
    waits = sorted(
        (alarm.acknowledged_at - alarm.raised_at).total_seconds()
        for alarm in alarms
        if alarm.acknowledged_at is not None
    )
    return AckSummary(
        acknowledged=len(waits),
        unacknowledged=len(alarms) - len(waits),
        waiting=sum(1 for alarm in alarms if alarm.state is AlarmState.ACTIVE),
        median_s=round(statistics.median(waits), 1) if waits else None,
        max_s=round(waits[-1], 1) if waits else None,
        within_30s=sum(1 for wait in waits if wait <= ACK_TARGETS_S[0]),
        within_60s=sum(1 for wait in waits if wait <= ACK_TARGETS_S[1]),
    )


def figures(alarms: Iterable[Alarm], false_alarms_12m: int) -> Figures:
    everything = list(alarms)
    real = [alarm for alarm in everything if not alarm.test]
    outcomes = {outcome.value: 0 for outcome in Outcome} | {OPEN: 0}
    kinds = dict.fromkeys(AlarmKind, 0)
    for alarm in real:
        if alarm.outcome is not Outcome.TEST:
            kinds[alarm.kind] += 1
        key = alarm.outcome.value if alarm.outcome and alarm.state is AlarmState.RESOLVED else OPEN
        outcomes[key] += 1
    return Figures(
        alarms=len(real),
        tests=len(everything) - len(real),
        outcomes=outcomes,
        ack=_ack_summary(real),
        false_alarms_12m=false_alarms_12m,
        kinds={kind.value: count for kind, count in kinds.items()},
    )


def monthly_report(
    bounds: MonthBounds,
    timezone: str,
    *,
    sites: Iterable[Site],
    alarms: Iterable[Alarm],
    false_alarms_12m: Mapping[str | None, int],
    generated_at: datetime,
) -> MonthlyReport:
    """The report for every site given (even those without alarms) and any other site the alarms
    name (one since removed from the registry), by name; then unregistered buttons, if any."""
    by_site: dict[str | None, list[Alarm]] = {}
    for alarm in alarms:
        by_site.setdefault(alarm.site.id if alarm.site else None, []).append(alarm)
    known: dict[str | None, tuple[str, str, str]] = {
        site.id: (site.name, site.address, site.phone) for site in sites
    }
    for site_alarms in by_site.values():
        site = site_alarms[-1].site
        if site is not None and site.id not in known:
            known[site.id] = (site.name, site.address, site.phone)
    for site_id, count in false_alarms_12m.items():  # sites gone from the registry since
        if count and site_id not in known:
            known[site_id] = (site_id or "", "", "")
    if by_site.get(None):
        known[None] = ("", "", "")
    rows = [
        SiteFigures(
            site_id=site_id,
            site_name=name,
            address=address,
            phone=phone,
            **figures(by_site.get(site_id, []), false_alarms_12m.get(site_id, 0)).model_dump(),
        )
        for site_id, (name, address, phone) in known.items()
    ]
    rows.sort(key=lambda row: (row.site_id is None, row.site_name.casefold()))
    everything = [alarm for site_alarms in by_site.values() for alarm in site_alarms]
    return MonthlyReport(
        month=bounds.month,
        timezone=timezone,
        start=bounds.start,
        end=bounds.end,
        window_start=bounds.window_start,
        generated_at=generated_at,
        sites=rows,
        total=figures(everything, sum(false_alarms_12m.values())),
    )


# -- the CSV export --------------------------------------------------------------------------------


def _cell(value: object) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula is quoted with `'`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _opt_iso(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def csv_row(alarm: Alarm, zone: ZoneInfo) -> list[str]:
    site = alarm.site
    waited = (
        None
        if alarm.acknowledged_at is None
        else round((alarm.acknowledged_at - alarm.raised_at).total_seconds(), 1)
    )
    values: tuple[object, ...] = (
        alarm.id,
        alarm.state.value,
        alarm.test,
        alarm.unregistered,
        site.id if site else None,
        site.name if site else None,
        site.address if site else None,
        " ".join(alarm.buttons),
        alarm.press_count,
        alarm.level,
        iso(alarm.raised_at),
        alarm.raised_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
        _opt_iso(alarm.acknowledged_at),
        alarm.acknowledged_by,
        waited,
        _opt_iso(alarm.resolved_at),
        alarm.resolved_by,
        alarm.outcome.value if alarm.outcome else None,
        alarm.note,
        alarm.kind.value,
    )
    return [_cell(value) for value in values]
