"""The monthly report as a file for the district: CSV (one row per site, then the total) or a
printable HTML page, in the hub's language (Vietnamese by default). The real alarms of each kind
are the last columns (`kind_holdup`, `kind_fire`, ...)."""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Final, Literal

from hub.domain.kinds import KIND_LABELS
from hub.domain.model import AlarmKind
from hub.reports.monthly import Figures, MonthlyReport, SiteFigures
from hub.reports.monthly import _cell as cell  # the CSV export's cells, formulas quoted

Language = Literal["vi", "en"]

COLUMNS: Final = (
    "site_id",
    "site_name",
    "address",
    "phone",
    "alarms",
    "tests",
    "genuine",
    "false_alarm",
    "test",
    "other",
    "open",
    "acknowledged",
    "unacknowledged",
    "ack_median_s",
    "ack_max_s",
    "ack_within_30s",
    "ack_within_60s",
    "false_alarms_12m",
    *(f"kind_{kind}" for kind in AlarmKind),
)

HEADINGS: Final[dict[Language, dict[str, str]]] = {
    "vi": {
        "title": "Báo cáo tháng",
        "site_name": "Địa điểm",
        "address": "Địa chỉ",
        "phone": "Điện thoại",
        "alarms": "Báo động",
        "tests": "Thử",
        "genuine": "Thật",
        "false_alarm": "Nhầm",
        "test": "Kết luận thử",
        "other": "Khác",
        "open": "Chưa xong",
        "acknowledged": "Đã nhận",
        "unacknowledged": "Không nhận",
        "ack_median_s": "Nhận sau (trung vị, giây)",
        "ack_max_s": "Lâu nhất (giây)",
        "ack_within_30s": "Trong 30 giây",
        "ack_within_60s": "Trong 60 giây",
        "false_alarms_12m": "Nhầm trong 12 tháng",
        "total": "Tổng",
        "unregistered": "(nút chưa đăng ký)",
        "timezone": "Múi giờ",
        **{f"kind_{kind}": label for kind, label in KIND_LABELS["vi"].items()},
    },
    "en": {
        "title": "Monthly report",
        "site_name": "Site",
        "address": "Address",
        "phone": "Phone",
        "alarms": "Alarms",
        "tests": "Tests",
        "genuine": "Genuine",
        "false_alarm": "False alarm",
        "test": "Closed as test",
        "other": "Other",
        "open": "Open",
        "acknowledged": "Acknowledged",
        "unacknowledged": "Unacknowledged",
        "ack_median_s": "To acknowledge (median, s)",
        "ack_max_s": "Longest (s)",
        "ack_within_30s": "Within 30 s",
        "ack_within_60s": "Within 60 s",
        "false_alarms_12m": "False alarms in 12 months",
        "total": "Total",
        "unregistered": "(unregistered buttons)",
        "timezone": "Time zone",
        **{f"kind_{kind}": label for kind, label in KIND_LABELS["en"].items()},
    },
}


def _figures(figures: Figures) -> list[object]:
    ack = figures.ack
    return [
        figures.alarms,
        figures.tests,
        *(
            figures.outcomes.get(key, 0)
            for key in ("genuine", "false_alarm", "test", "other", "open")
        ),
        ack.acknowledged,
        ack.unacknowledged,
        ack.median_s,
        ack.max_s,
        ack.within_30s,
        ack.within_60s,
        figures.false_alarms_12m,
        *(figures.kinds.get(kind, 0) for kind in AlarmKind),
    ]


def _site(row: SiteFigures) -> list[object]:
    return [row.site_id, row.site_name, row.address, row.phone, *_figures(row)]


def report_csv(report: MonthlyReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in report.sites:
        writer.writerow([cell(value) for value in _site(row)])
    writer.writerow([cell(v) for v in ["total", "", "", "", *_figures(report.total)]])
    return buffer.getvalue()


def report_html(report: MonthlyReport, language: Language = "vi") -> str:
    words = HEADINGS[language]
    shown = COLUMNS[1:2] + COLUMNS[4:]
    head = "".join(f"<th>{escape(words[name])}</th>" for name in shown)

    def line(name: str, values: list[object]) -> str:
        cells = "".join(f"<td>{escape(cell(v))}</td>" for v in values)
        return f"<tr><th>{escape(name)}</th>{cells}</tr>"

    body = "".join(
        line(row.site_name or words["unregistered"], _figures(row)) for row in report.sites
    )
    title = f"{words['title']} {report.month}"
    return (
        f'<!doctype html>\n<html lang="{language}"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        "<style>table{border-collapse:collapse}th,td{border:1px solid #999;padding:4px 8px}"
        "td{text-align:right}</style></head><body>"
        f"<h1>{escape(title)}</h1><p>{escape(words['timezone'])}: {escape(report.timezone)}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        f"<tfoot>{line(words['total'], _figures(report.total))}</tfoot></table></body></html>\n"
    )


def report_text(report: MonthlyReport, language: Language = "vi") -> str:
    words = HEADINGS[language]
    lines = [f"{words['title']} {report.month} ({report.timezone})"]
    for name, figures in [
        *((row.site_name or words["unregistered"], row) for row in report.sites),
        (words["total"], report.total),
    ]:
        ack = figures.ack
        kinds = "".join(
            f"; {words[f'kind_{kind}'].lower()} {count}"
            for kind, count in figures.kinds.items()
            if count
        )
        lines.append(
            f"  {name}: {words['alarms'].lower()} {figures.alarms}{kinds}, "
            f"{words['tests'].lower()} {figures.tests}, "
            f"{words['false_alarm'].lower()} {figures.outcomes.get('false_alarm', 0)}, "
            f"{words['ack_median_s'].lower()} {'-' if ack.median_s is None else ack.median_s}, "
            f"{words['false_alarms_12m'].lower()} {figures.false_alarms_12m}"
        )
    return "\n".join(lines) + "\n"
