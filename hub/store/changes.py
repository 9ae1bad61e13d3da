"""One batch's rows, and writing them in one transaction.

`Changes` is what the planner produces: every row a batch adds or changes, for every table. The
writer commits it with `apply`, all or nothing: a press is never stored without its alarm, nor an
alarm without its audit entries (and, once escalation is configured, its deadline).

Other parts add their own tables' rows through `extra`, executed in order after the core tables,
inside the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Final

import aiosqlite

from hub.domain.model import Alarm, DeviceState, Trouble
from hub.store.db import run_on
from hub.store.rows import (
    ALARM_COLUMNS,
    DEVICE_COLUMNS,
    TROUBLE_COLUMNS,
    alarm_to_row,
    device_to_row,
    trouble_to_row,
)

REJECTED_PAYLOAD_KEEP: Final = 1024
"""Bytes of a rejected payload kept in the log (its full size is recorded too)."""


def _upsert(table: str, columns: str, key: str) -> str:
    names = [name.strip() for name in columns.split(",")]
    placeholders = ", ".join("?" for _ in names)
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name != key)
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT({key}) DO UPDATE SET {updates}"
    )


_ALARM_UPSERT: Final = _upsert("alarms", ALARM_COLUMNS, "id")
_DEVICE_UPSERT: Final = _upsert("device_state", DEVICE_COLUMNS, "button_id")
_TROUBLE_UPSERT: Final = _upsert("troubles", TROUBLE_COLUMNS, "id")
_PRESS_INSERT: Final = (
    "INSERT INTO presses (button_id, event_id, type, alarm_id, received_at, device_ts, seq, "
    "battery, test, anomalies) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_AUDIT_INSERT: Final = (
    "INSERT INTO audit (ts, actor, action, alarm_id, button_id, trouble_id, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_REJECTED_INSERT: Final = (
    "INSERT INTO rejected (received_at, topic, payload, size, reason, detail, button_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_META_UPSERT: Final = _upsert("meta", "key, value", "key")
_REJECTED_PRUNE: Final = "DELETE FROM rejected WHERE id <= (SELECT max(id) FROM rejected) - ?"


@dataclass(slots=True)
class Changes:
    presses: list[tuple[Any, ...]] = field(default_factory=list)
    alarms: dict[str, Alarm] = field(default_factory=dict)
    audit: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: list[tuple[Any, ...]] = field(default_factory=list)
    devices: dict[str, DeviceState] = field(default_factory=dict)
    troubles: dict[int, Trouble] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    extra: list[tuple[str, list[tuple[Any, ...]]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (
                self.presses,
                self.alarms,
                self.audit,
                self.rejected,
                self.devices,
                self.troubles,
                self.meta,
                self.extra,
            )
        )

    def add_audit(
        self,
        ts: str,
        actor: str,
        action: str,
        *,
        alarm_id: str | None = None,
        button_id: str | None = None,
        trouble_id: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        text = json.dumps(detail, ensure_ascii=False, separators=(",", ":")) if detail else None
        self.audit.append((ts, actor, action, alarm_id, button_id, trouble_id, text))

    def add_rejected(
        self,
        ts: str,
        topic: str,
        payload: bytes,
        reason: str,
        detail: str,
        button_id: str | None,
    ) -> None:
        self.rejected.append(
            (ts, topic, payload[:REJECTED_PAYLOAD_KEEP], len(payload), reason, detail, button_id)
        )

    def statements(self, rejected_keep: int) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """Every statement of the batch's transaction with its rows, in the order they run."""
        found: list[tuple[str, list[tuple[Any, ...]]]] = []
        if self.alarms:
            found.append((_ALARM_UPSERT, [alarm_to_row(a) for a in self.alarms.values()]))
        if self.presses:
            found.append((_PRESS_INSERT, self.presses))
        if self.troubles:
            found.append((_TROUBLE_UPSERT, [trouble_to_row(t) for t in self.troubles.values()]))
        if self.audit:
            found.append((_AUDIT_INSERT, self.audit))
        if self.rejected:
            found.append((_REJECTED_INSERT, self.rejected))
            found.append((_REJECTED_PRUNE, [(rejected_keep,)]))
        if self.devices:
            found.append((_DEVICE_UPSERT, [device_to_row(d) for d in self.devices.values()]))
        if self.meta:
            found.append((_META_UPSERT, list(self.meta.items())))
        found.extend(self.extra)
        return found


def _write(conn: sqlite3.Connection, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, rows in statements:
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a failed COMMIT may have rolled back already
            conn.rollback()
        raise


async def apply(conn: aiosqlite.Connection, changes: Changes, rejected_keep: int) -> None:
    """Write every row of `changes` in one IMMEDIATE transaction, or none of them.

    The rows are made here, on the event loop; the transaction runs on the connection's thread
    in one round trip (`run_on`), where SQLite releases the GIL while it works."""
    await run_on(conn, _write, changes.statements(rejected_keep))
