"""Reads for the reports: alarms in time order, in chunks, and false alarms counted per site.

On the API's read-only connection. Times are compared as the store's fixed-width UTC text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from hub.domain.model import Alarm, Outcome
from hub.store.db import Reader
from hub.store.rows import ALARM_COLUMNS, alarm_from_row

CHUNK: Final = 500


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    states: Sequence[str] = field(default_factory=tuple)
    site_id: str | None = None
    since: str | None = None
    """raised at or after (UTC ISO text)"""
    until: str | None = None
    """raised before"""
    outcome: str | None = None

    def where(self) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.states:
            clauses.append(f"state IN ({', '.join('?' for _ in self.states)})")
            params.extend(self.states)
        for clause, value in (
            ("site_id = ?", self.site_id),
            ("raised_at >= ?", self.since),
            ("raised_at < ?", self.until),
            ("outcome = ?", self.outcome),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        return clauses, params


async def iter_alarms(conn: Reader, where: AlarmFilter, chunk: int = CHUNK) -> AsyncIterator[Alarm]:
    """Every alarm that matches, oldest first, read `chunk` at a time (keyset on `seq`, so an
    alarm raised meanwhile neither repeats nor hides a row)."""
    clauses, params = where.where()
    last_seq = 0
    while True:
        sql = (
            f"SELECT {ALARM_COLUMNS} FROM alarms WHERE "
            + " AND ".join([*clauses, "seq > ?"])
            + " ORDER BY seq LIMIT ?"
        )
        rows = list(await conn.execute_fetchall(sql, [*params, last_seq, chunk]))
        for row in rows:
            yield alarm_from_row(row)
        if len(rows) < chunk:
            return
        last_seq = rows[-1]["seq"]


async def false_alarm_counts(
    conn: Reader, since: str, until: str, site_id: str | None = None
) -> dict[str | None, int]:
    """Real (not test) alarms raised in [since, until) and closed as false alarms, per site."""
    where = AlarmFilter(
        site_id=site_id, since=since, until=until, outcome=Outcome.FALSE_ALARM.value
    )
    clauses, params = where.where()
    rows = await conn.execute_fetchall(
        "SELECT site_id, count(*) FROM alarms WHERE "
        + " AND ".join([*clauses, "test = 0"])
        + " GROUP BY site_id",
        params,
    )
    return {row[0]: int(row[1]) for row in rows}
