"""Restart to ready: how long from `exec` to `/readyz` 200, with a store of a million events.

The store is made quickly with SQL (one transaction) on top of a province registry created by
`chuong registry import`: a year of history, `events` presses two to an alarm, every alarm
acknowledged and resolved with its audit entries, a device state for every button, and a few
alarms still open (the hub must republish those when it starts). The same registry with no events
is the baseline, so the report shows what the history itself costs.

Each store is started `starts` times; the page cache is warm, as after a crash or a restart of the
service (not after a reboot).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from simulator.bench.hub import HubUnderTest, import_registry
from simulator.bench.stats import mib
from simulator.broker import Mosquitto

OPEN_ALARMS: Final = 20
YEAR_S: Final = 365 * 24 * 3600
_TIME = "strftime('%Y-%m-%dT%H:%M:%fZ', {}, 'unixepoch')"


def _at(expression: str) -> str:
    return _TIME.format(expression)


def generate_history(db: Path, *, hub_id: str, events: int, buttons_prefix: str) -> int:
    """Add `events` presses (and their alarms, audit and device states) to a store that has the
    registry already; return the number of alarms."""
    alarms = (events + 1) // 2
    resolved = max(0, alarms - OPEN_ALARMS)
    start = time.time() - YEAR_S
    step = (YEAR_S - 3600) / max(1, alarms)
    # alarm x (1..alarms): button (x-1) % buttons, raised at start + x*step
    raised = _at(":start + x * :step")
    params: dict[str, object] = {"alarms": alarms, "resolved": resolved, "events": events}
    params |= {"start": start, "step": step, "hub": hub_id}
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")  # one big transaction: skip the WAL copy
        conn.execute("PRAGMA synchronous = OFF")
        buttons = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM buttons WHERE id LIKE ? ORDER BY id", (f"{buttons_prefix}-%",)
            )
        ]
        params["buttons"] = len(buttons)
        conn.execute("BEGIN")
        conn.execute("CREATE TEMP TABLE pool (n INTEGER PRIMARY KEY, id TEXT NOT NULL)")
        conn.executemany("INSERT INTO pool VALUES (?, ?)", enumerate(buttons))
        conn.execute(
            "WITH RECURSIVE k(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM k WHERE x < :alarms) "
            "INSERT INTO alarms (id, seq, state, level, site_id, site_name, site_address, "
            "site_phone, devices, press_count, test, unregistered, raised_at, last_press_at, "
            "acknowledged_at, acknowledged_by, resolved_at, resolved_by, outcome, note, "
            "updated_at) "
            "SELECT :hub || '-' || x, x, CASE WHEN x <= :resolved THEN 'resolved' ELSE 'active' "
            "END, 0, b.site_id, s.name, s.address, s.phone, "
            "json_array(json_array(b.id, 'h' || (2 * x - 1))), "
            "CASE WHEN 2 * x <= :events THEN 2 ELSE 1 END, 0, 0, "
            f"{raised}, {_at(':start + x * :step + 5')}, "
            f"CASE WHEN x <= :resolved THEN {_at(':start + x * :step + 60')} END, "
            "CASE WHEN x <= :resolved THEN 'user:officer' END, "
            f"CASE WHEN x <= :resolved THEN {_at(':start + x * :step + 600')} END, "
            "CASE WHEN x <= :resolved THEN 'user:officer' END, "
            "CASE WHEN x <= :resolved THEN 'false_alarm' END, "
            "CASE WHEN x <= :resolved THEN 'benchmark history' END, "
            f"{raised} "
            "FROM k JOIN pool AS p ON p.n = (x - 1) % :buttons "
            "JOIN buttons AS b ON b.id = p.id JOIN sites AS s ON s.id = b.site_id",
            params,
        )
        conn.execute(
            "WITH RECURSIVE e(y) AS (SELECT 0 UNION ALL SELECT y + 1 FROM e WHERE y < :events - 1) "
            "INSERT INTO presses (button_id, event_id, type, alarm_id, received_at, seq, battery, "
            "test) "
            "SELECT p.id, 'h' || (y + 1), 'press', :hub || '-' || (y / 2 + 1), "
            f"{_at(':start + (y / 2 + 1) * :step + 5 * (y % 2)')}, y, 90, 0 "
            "FROM e JOIN pool AS p ON p.n = (y / 2) % :buttons",
            params,
        )
        for action, actor, offset, condition in (
            ("alarm.raised", "'button:' || b.id", "0", "1"),
            ("alarm.press", "'button:' || b.id", "5", "2 * x <= :events"),
            ("alarm.acknowledged", "'user:officer'", "60", "x <= :resolved"),
            ("alarm.resolved", "'user:officer'", "600", "x <= :resolved"),
        ):
            conn.execute(
                "WITH RECURSIVE k(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM k WHERE x < :alarms) "
                "INSERT INTO audit (ts, actor, action, alarm_id, button_id, detail) "
                f"SELECT {_at(':start + x * :step + ' + offset)}, {actor}, '{action}', "
                ":hub || '-' || x, b.id, NULL "
                "FROM k JOIN pool AS p ON p.n = (x - 1) % :buttons JOIN buttons AS b "
                f"ON b.id = p.id WHERE {condition}",
                params,
            )
        conn.execute(
            "INSERT INTO device_state (button_id, first_seen, last_seen, online, battery, rssi, "
            f"fw) SELECT id, {_at(':start')}, {_at(':start + 365 * 86400')}, 1, 90, -60, "
            "'1.4.2' FROM pool",
            {"start": start},
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    return alarms


@dataclass(frozen=True, slots=True)
class StoreStart:
    events: int
    alarms: int
    store_mib: float
    ready_s: list[float]
    """exec → /readyz 200, each start"""
    rss_mib_ready: float
    """resident memory of the last start, once ready"""


@dataclass(frozen=True, slots=True)
class Restart:
    buttons: int
    generate_s: float
    empty: StoreStart
    history: StoreStart


def _starts(
    workdir: Path, broker: Mosquitto, *, hub_id: str, db: Path, root: str, starts: int
) -> tuple[list[float], float]:
    times: list[float] = []
    rss = 0
    for _ in range(starts):
        hub = HubUnderTest(workdir, broker, hub_id=hub_id, db=db, root=root).start()
        try:
            times.append(round(hub.wait_ready(), 3))
            rss = hub.sample().rss_bytes
        finally:
            hub.stop()
    return times, mib(rss)


def measure_restart(
    workdir: Path,
    broker: Mosquitto,
    *,
    registry: Path,
    buttons: int,
    buttons_prefix: str,
    events: int,
    root: str,
    starts: int,
) -> Restart:
    empty_db, history_db = workdir / "restart-empty.db", workdir / "restart-history.db"
    for db in (empty_db, history_db):
        import_registry(db, registry)
    began = time.monotonic()
    alarms = generate_history(
        history_db, hub_id="hist", events=events, buttons_prefix=buttons_prefix
    )
    generate_s = round(time.monotonic() - began, 1)
    results = []
    for db, hub_id, count, alarm_count in (
        (empty_db, "empty", 0, 0),
        (history_db, "hist", events, alarms),
    ):
        times, rss = _starts(workdir, broker, hub_id=hub_id, db=db, root=root, starts=starts)
        size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
        results.append(StoreStart(count, alarm_count, mib(size), times, rss))
    return Restart(buttons, generate_s, results[0], results[1])
