"""/api/v1/reports: the CSV export and the monthly report, on a real hub and store.

Alarms of past months are written into the store before the hub starts (the hub has no way to
raise an alarm in the past), with the same row layout the hub itself uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub import cli
from hub.domain.model import Alarm, AlarmKind, Outcome, Role, SiteRef
from hub.store.db import open_sync_at
from hub.store.reports import CHUNK
from hub.store.rows import ALARM_COLUMNS, alarm_to_row
from tests.conftest import RunningHub
from tests.hub.reports.test_monthly import make_alarm

pytestmark = pytest.mark.both_stores
"""Every test here runs on SQLite and on PostgreSQL."""

StartHub = Callable[..., Awaitable[RunningHub]]
CLINIC = SiteRef("clinic", "Trạm y tế", "45 Nguyễn Trãi", "0272 3811 115")


SEEDED = [
    # 13 months before January 2026: outside the 12-month window
    make_alarm(
        1, raised=datetime(2025, 1, 10, 3, tzinfo=UTC), ack_after=30, outcome=Outcome.FALSE_ALARM
    ),
    make_alarm(
        2, raised=datetime(2025, 6, 1, 3, tzinfo=UTC), ack_after=30, outcome=Outcome.FALSE_ALARM
    ),
    make_alarm(
        3,
        site=CLINIC,
        raised=datetime(2025, 12, 2, 3, tzinfo=UTC),
        ack_after=8,
        outcome=Outcome.GENUINE,
    ),
    # 00:30 on 1 January in Hà Nội: January, though still 31 December in UTC
    make_alarm(
        4,
        raised=datetime(2025, 12, 31, 17, 30, tzinfo=UTC),
        ack_after=20,
        outcome=Outcome.FALSE_ALARM,
    ),
    make_alarm(
        5,
        raised=datetime(2026, 1, 15, 2, tzinfo=UTC),
        ack_after=90,
        outcome=Outcome.GENUINE,
        note='=HYPERLINK("x"), cướp giật\ndòng hai',
        kind=AlarmKind.FIRE,
    ),
    make_alarm(
        6, raised=datetime(2026, 1, 20, 2, tzinfo=UTC), ack_after=4, outcome=Outcome.TEST, test=True
    ),
]


def seed_alarms(db: Path | str, alarms: list[Alarm]) -> None:
    placeholders = ", ".join("?" for _ in ALARM_COLUMNS.split(","))
    with contextlib.closing(open_sync_at(db)) as conn, conn:
        conn.executemany(
            f"INSERT INTO alarms ({ALARM_COLUMNS}) VALUES ({placeholders})",
            [alarm_to_row(alarm) for alarm in alarms],
        )


@pytest.fixture
async def seeded(tmp_path: Path, start_hub: StartHub, store_url: str | None) -> RunningHub:
    seed_alarms(store_url or tmp_path / "hub.db", SEEDED)
    return await start_hub()


async def _csv(running: RunningHub, **params: str | list[str]) -> list[dict[str, str]]:
    response = await running.api(Role.VIEWER).get("/api/v1/reports/alarms.csv", params=params)
    assert response.status_code == 200, response.text
    assert response.text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(response.text.removeprefix("\ufeff"))))


async def test_csv_export_has_every_alarm_oldest_first(seeded: RunningHub) -> None:
    """A viewer downloads every alarm as CSV: UTF-8 with a BOM (spreadsheets then read the
    Vietnamese right), an attachment name, one row per alarm oldest first, a note with a comma
    and a line break kept whole, and a formula quoted so that no spreadsheet runs it."""
    response = await seeded.api(Role.VIEWER).get("/api/v1/reports/alarms.csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="chuong-alarms-'
    )
    rows = await _csv(seeded)
    assert [row["id"] for row in rows] == [f"post-{n}" for n in range(1, 7)]
    assert rows[4]["note"] == '\'=HYPERLINK("x"), cướp giật\ndòng hai'
    assert rows[3]["raised_at_local"] == "2026-01-01 00:30:00"
    assert rows[2]["site_name"] == "Trạm y tế"
    assert rows[4]["seconds_to_ack"] == "90.0"


async def test_csv_export_takes_the_historys_filters(seeded: RunningHub) -> None:
    """Site, time range (raised in [since, until)), outcome and state filter the export."""
    assert [r["id"] for r in await _csv(seeded, site="clinic")] == ["post-3"]
    january = {"since": "2025-12-31T17:00:00Z", "until": "2026-01-31T17:00:00Z"}
    assert [r["id"] for r in await _csv(seeded, **january)] == ["post-4", "post-5", "post-6"]
    assert [r["id"] for r in await _csv(seeded, outcome="genuine")] == ["post-3", "post-5"]
    assert await _csv(seeded, state=["active", "acknowledged"]) == []
    assert len(await _csv(seeded, state="resolved")) == 6


@pytest.mark.parametrize(
    "params", [{"outcome": "won"}, {"state": "burning"}, {"since": "yesterday"}]
)
async def test_csv_export_refuses_bad_filters(seeded: RunningHub, params: dict[str, str]) -> None:
    response = await seeded.api(Role.VIEWER).get("/api/v1/reports/alarms.csv", params=params)
    assert response.status_code == 422
    assert response.json()["detail"]


async def test_csv_export_reads_past_one_chunk(
    tmp_path: Path, start_hub: StartHub, store_url: str | None
) -> None:
    """More alarms than one read (CHUNK) are all exported, each once."""
    count = CHUNK * 2 + 1
    seed_alarms(
        store_url or tmp_path / "hub.db",
        [make_alarm(n, ack_after=5, outcome=Outcome.GENUINE) for n in range(1, count + 1)],
    )
    running = await start_hub()
    ids = [row["id"] for row in await _csv(running)]
    assert ids == [f"post-{n}" for n in range(1, count + 1)]


async def test_monthly_report(seeded: RunningHub) -> None:
    """January 2026 (Hà Nội time): the bank had 2 real alarms (the one at 00:30 on 1 January
    included), 1 genuine and 1 false, acknowledged after 20 s and 90 s, plus a test; 2 false
    alarms in the 12 months to January (not the one 13 months back); the clinic, quiet in
    January, is listed with zeros."""
    response = await seeded.api(Role.VIEWER).get(
        "/api/v1/reports/monthly", params={"month": "2026-01"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["month"], report["timezone"]) == ("2026-01", "Asia/Ho_Chi_Minh")
    assert report["start"] == "2025-12-31T17:00:00.000Z"
    bank, clinic = report["sites"]
    assert (bank["site_id"], bank["site_name"]) == ("bank", "Ngân hàng Phước Hòa")
    assert (bank["alarms"], bank["tests"], bank["false_alarms_12m"]) == (2, 1, 2)
    assert bank["outcomes"] == {"genuine": 1, "false_alarm": 1, "test": 0, "other": 0, "open": 0}
    ack = bank["ack"]
    assert (ack["median_s"], ack["max_s"], ack["within_30s"], ack["within_60s"]) == (
        55.0,
        90.0,
        1,
        1,
    )
    assert (clinic["site_id"], clinic["alarms"], clinic["false_alarms_12m"]) == ("clinic", 0, 0)
    assert (report["total"]["alarms"], report["total"]["false_alarms_12m"]) == (2, 2)
    kinds = {"holdup": 1, "fire": 1, "medical": 0, "assistance": 0, "comm_loss": 0}
    assert bank["kinds"] == report["total"]["kinds"] == kinds  # the test alarm is not counted
    december = await seeded.api(Role.VIEWER).get(
        "/api/v1/reports/monthly", params={"month": "2025-12", "site": "clinic"}
    )
    (only,) = december.json()["sites"]
    assert (only["site_id"], only["alarms"], only["ack"]["median_s"]) == ("clinic", 1, 8.0)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"month": "2026-13"}, 422),
        ({"month": "2026-1"}, 422),
        ({}, 422),
        ({"month": "2026-01", "site": "nowhere"}, 404),
    ],
)
async def test_monthly_report_refuses_bad_requests(
    seeded: RunningHub, params: dict[str, str], status: int
) -> None:
    response = await seeded.api(Role.VIEWER).get("/api/v1/reports/monthly", params=params)
    assert response.status_code == status
    assert response.json()["detail"]


async def test_monthly_report_from_the_command_line(
    seeded: RunningHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`chuong report monthly` gives the page's figures, while the hub runs: CSV with one row per
    site and the total, an HTML page in Vietnamese to print, one site with --site; an unknown
    site or a bad month is an error."""
    monkeypatch.setenv("CHUONG_STORE__PATH", str(seeded.config.store.path))
    if seeded.config.store.url:
        monkeypatch.setenv("CHUONG_STORE__URL", seeded.config.store.url)
    assert await chuong(["report", "monthly", "--month", "2026-01", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["site_id"] for row in rows] == ["bank", "clinic", "total"]
    bank = rows[0]
    assert (bank["site_name"], bank["alarms"], bank["tests"]) == ("Ngân hàng Phước Hòa", "2", "1")
    assert (bank["genuine"], bank["false_alarm"], bank["false_alarms_12m"]) == ("1", "1", "2")
    assert (bank["ack_median_s"], bank["ack_max_s"], bank["ack_within_30s"]) == (
        "55.0",
        "90.0",
        "1",
    )
    assert rows[2]["alarms"] == "2"
    assert (bank["kind_holdup"], bank["kind_fire"], bank["kind_medical"]) == ("1", "1", "0")

    page = tmp_path / "report.html"
    argv = ["report", "monthly", "--month", "2025-12", "--site", "clinic", "--format", "html"]
    assert await chuong([*argv, "--out", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "Báo cáo tháng 2025-12" in html
    assert "Trạm y tế" in html
    assert "Ngân hàng" not in html

    assert await chuong(["report", "monthly", "--month", "2026-01"]) == 0
    assert (
        "Ngân hàng Phước Hòa: báo động 2; cướp giật / đột nhập 1; cháy 1,"
        in capsys.readouterr().out
    )
    assert await chuong(["report", "monthly", "--month", "2026-01", "--site", "nowhere"]) == 1
    assert "no site 'nowhere'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        await chuong(["report", "monthly", "--month", "2026-13"])


async def chuong(argv: list[str]) -> int:
    """The command line, off the event loop the in-process hub runs on."""
    return await asyncio.to_thread(cli.main, argv)
