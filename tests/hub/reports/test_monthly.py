"""The monthly report and the CSV rows: pure functions of alarms, fixed times, no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.domain.model import Alarm, AlarmDevice, AlarmKind, AlarmState, Outcome, Site, SiteRef
from hub.reports.monthly import CSV_COLUMNS, csv_row, figures, month_bounds, monthly_report

T0 = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)
BANK = SiteRef("bank", "Ngân hàng", "12 Quốc lộ 1A", "0272 3812 345")


def make_alarm(
    seq: int,
    *,
    site: SiteRef | None = BANK,
    raised: datetime = T0,
    ack_after: float | None = None,
    outcome: Outcome | None = None,
    test: bool = False,
    note: str | None = None,
    kind: AlarmKind = AlarmKind.HOLDUP,
) -> Alarm:
    acknowledged = None if ack_after is None else raised + timedelta(seconds=ack_after)
    resolved = None if outcome is None else raised + timedelta(minutes=30)
    state = (
        AlarmState.RESOLVED
        if outcome
        else AlarmState.ACKNOWLEDGED
        if acknowledged
        else AlarmState.ACTIVE
    )
    return Alarm(
        id=f"post-{seq}",
        seq=seq,
        state=state,
        level=0,
        site=site,
        devices=(AlarmDevice("bank-1", f"e{seq}"),),
        press_count=1,
        test=test,
        unregistered=site is None,
        raised_at=raised,
        last_press_at=raised,
        updated_at=raised,
        acknowledged_at=acknowledged,
        acknowledged_by=None if acknowledged is None else "user:officer",
        resolved_at=resolved,
        resolved_by=None if resolved is None else "user:officer",
        outcome=outcome,
        note=note,
        kind=kind,
    )


def test_month_bounds_are_local_calendar_months_in_utc() -> None:
    """January 2026 in Hà Nội time (UTC+7) starts on 31 December at 17:00 UTC; the 12-month window
    ending with it starts with February 2025."""
    bounds = month_bounds("2026-01", "Asia/Ho_Chi_Minh")
    assert bounds.start == datetime(2025, 12, 31, 17, tzinfo=UTC)
    assert bounds.end == datetime(2026, 1, 31, 17, tzinfo=UTC)
    assert bounds.window_start == datetime(2025, 1, 31, 17, tzinfo=UTC)
    december = month_bounds("2026-12", "Asia/Ho_Chi_Minh")
    assert december.end == datetime(2026, 12, 31, 17, tzinfo=UTC)
    assert december.window_start == datetime(2025, 12, 31, 17, tzinfo=UTC)


def test_month_bounds_follow_summer_time() -> None:
    """In a zone with summer time, April starts at 22:00 UTC and March at 23:00 UTC."""
    april = month_bounds("2026-04", "Europe/Berlin")
    assert april.start == datetime(2026, 3, 31, 22, tzinfo=UTC)
    assert month_bounds("2026-03", "Europe/Berlin").start == datetime(2026, 2, 28, 23, tzinfo=UTC)


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "26-01", "2026-1", "2026/01", "1969-12"])
def test_bad_months_are_refused(month: str) -> None:
    with pytest.raises(ValueError, match="month"):
        month_bounds(month, "Asia/Ho_Chi_Minh")


def test_figures_count_real_alarms_and_tests_apart() -> None:
    """Four real alarms (acknowledged after 20 s and 45 s, one still active, one closed by an
    admin without acknowledgement) and one test: outcomes, and the time to acknowledge of the
    real ones only. Of the two never acknowledged, the active one is still waiting."""
    alarms = [
        make_alarm(1, ack_after=20, outcome=Outcome.GENUINE),
        make_alarm(2, ack_after=45, outcome=Outcome.FALSE_ALARM),
        make_alarm(3),
        make_alarm(4, outcome=Outcome.OTHER),
        make_alarm(5, ack_after=5, outcome=Outcome.TEST, test=True),
    ]
    result = figures(alarms, false_alarms_12m=3)
    assert (result.alarms, result.tests, result.false_alarms_12m) == (4, 1, 3)
    assert result.outcomes == {"genuine": 1, "false_alarm": 1, "test": 0, "other": 1, "open": 1}
    ack = result.ack
    assert (ack.acknowledged, ack.unacknowledged, ack.waiting) == (2, 2, 1)
    assert (ack.median_s, ack.max_s, ack.within_30s, ack.within_60s) == (32.5, 45.0, 1, 2)


def test_figures_count_real_alarms_per_kind() -> None:
    """Every kind is listed (0 when none); test alarms, and alarms resolved as tests, are not
    counted; per site and in total."""
    alarms = [
        make_alarm(1),
        make_alarm(2, kind=AlarmKind.FIRE),
        make_alarm(3, kind=AlarmKind.FIRE, site=SiteRef("clinic", "Trạm y tế", "", "")),
        make_alarm(4, kind=AlarmKind.MEDICAL, test=True),
        make_alarm(5, kind=AlarmKind.MEDICAL, outcome=Outcome.TEST),  # resolved as a test
    ]
    result = figures(alarms, false_alarms_12m=0)
    assert result.kinds == {
        "holdup": 1,
        "fire": 2,
        "medical": 0,
        "assistance": 0,
        "comm_loss": 0,
    }
    report = monthly_report(
        month_bounds("2026-01", "Asia/Ho_Chi_Minh"),
        "Asia/Ho_Chi_Minh",
        sites=[],
        alarms=alarms,
        false_alarms_12m={},
        generated_at=T0,
    )
    per_site = {row.site_id: row.kinds["fire"] for row in report.sites}
    assert per_site == {"bank": 1, "clinic": 1}
    assert report.total.kinds["fire"] == 2
    row = dict(zip(CSV_COLUMNS, csv_row(alarms[1], ZoneInfo("UTC")), strict=True))
    assert row["kind"] == "fire"


def test_figures_of_a_quiet_month_are_zeros() -> None:
    result = figures([], false_alarms_12m=0)
    assert result.alarms == 0
    assert result.ack.median_s is None
    assert result.ack.max_s is None
    assert set(result.outcomes.values()) == {0}
    assert set(result.kinds.values()) == {0}


def test_the_report_lists_every_site_then_removed_sites_then_unregistered_buttons() -> None:
    """Every registered site is listed (with zeros if quiet), by name; a site the alarms name but
    the registry no longer has is listed from the alarm; one with only false alarms of earlier
    months is listed under its id; unregistered buttons come last; the total adds them up."""
    bounds = month_bounds("2026-01", "Asia/Ho_Chi_Minh")
    gone = SiteRef("old-shop", "Cửa hàng cũ", "", "")
    report = monthly_report(
        bounds,
        "Asia/Ho_Chi_Minh",
        sites=[Site("clinic", "Trạm y tế"), Site("bank", "Ngân hàng", "12 Quốc lộ 1A")],
        alarms=[
            make_alarm(1, ack_after=10, outcome=Outcome.FALSE_ALARM),
            make_alarm(2, site=gone),
            make_alarm(3, site=None),
        ],
        false_alarms_12m={"bank": 2, "closed-cafe": 1},
        generated_at=T0,
    )
    rows = [(r.site_id, r.site_name, r.alarms, r.false_alarms_12m) for r in report.sites]
    assert rows == [
        ("closed-cafe", "closed-cafe", 0, 1),
        ("old-shop", "Cửa hàng cũ", 1, 0),
        ("bank", "Ngân hàng", 1, 2),
        ("clinic", "Trạm y tế", 0, 0),
        (None, "", 1, 0),
    ]
    assert report.sites[2].address == "12 Quốc lộ 1A"
    assert report.sites[2].outcomes["false_alarm"] == 1
    assert (report.total.alarms, report.total.false_alarms_12m) == (3, 3)
    assert report.model_dump(mode="json")["start"] == "2025-12-31T17:00:00.000Z"


def test_csv_rows_quote_formulas_and_show_local_time() -> None:
    """A note or name that a spreadsheet would run as a formula is quoted with `'`; times are UTC
    with one local column; booleans are 1/0; the wait before acknowledgement is in seconds."""
    site = SiteRef("bank", "=cmd|' /C calc'!A0", "12 Quốc lộ 1A", "+84 272 3812 345")
    alarm = make_alarm(
        7, site=site, ack_after=12.34, outcome=Outcome.GENUINE, note="@SUM(1+1), ghi chú"
    )
    row = dict(zip(CSV_COLUMNS, csv_row(alarm, ZoneInfo("Asia/Ho_Chi_Minh")), strict=True))
    assert row["site_name"] == "'=cmd|' /C calc'!A0"
    assert row["note"] == "'@SUM(1+1), ghi chú"
    assert row["raised_at"] == "2026-01-10T03:00:00.000Z"
    assert row["raised_at_local"] == "2026-01-10 10:00:00"
    assert row["seconds_to_ack"] == "12.3"
    assert (row["test"], row["unregistered"], row["outcome"]) == ("0", "0", "genuine")
    unregistered = dict(
        zip(CSV_COLUMNS, csv_row(make_alarm(8, site=None), ZoneInfo("UTC")), strict=True)
    )
    assert (unregistered["site_id"], unregistered["unregistered"]) == ("", "1")
    assert unregistered["resolved_at"] == ""
