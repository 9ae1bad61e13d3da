"""Retention: what the store forgets, and when. Run by the hub, beside the press path.

Each table has its own rule (`[store.retention]`, docs/DECISIONS.md, "Retention"):

- history (alarms with their presses; troubles; the audit log) is kept for `history_days`, by
  default for ever (0): it is the post's record of what happened. An alarm goes only once it was
  resolved that long ago and its notices and escalation are gone (by the two rules below).
- delivered, failed and cancelled notices (outbox) go after `outbox_days` (30), once their alarm is
  resolved or their trouble cleared; a pending notice is never pruned.
- changes the district has acknowledged (upstream) go after `outbox_days` too, once their alarm
  is resolved (a change not yet acknowledged is never pruned); at a district, the changes received
  from a post (post_changes) are history, and go with their alarm.
- finished escalations go after `escalations_days` (30), once their alarm is resolved or their
  trouble cleared (an open alarm's escalation is kept: the hub would start it again otherwise).
- rejected messages are capped by count at every commit (`store.rejected_keep`) and expired
  sessions are deleted when they are looked at; neither needs this task.

The pruner runs every `interval_s` on a connection of its own, in transactions of at most `batch`
rows: the writer's next commit waits for at most one such transaction (a few milliseconds), and
a press is never in the same transaction as a deletion. On PostgreSQL each of its transactions
first checks the store's lease epoch, as the writer's batches do (`lease_fence`): a hub that lost
the store to another (docs/HA.md) prunes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from hub.clock import Clock, iso
from hub.errors import StoreError
from hub.store.db import open_sync_at
from hub.store.pg import LOCK_KEY

log = logging.getLogger(__name__)

_RESOLVED_ALARM: Final = "SELECT 1 FROM alarms a WHERE a.id = {t}.alarm_id AND a.state = 'resolved'"
_CLEARED_TROUBLE: Final = (
    "SELECT 1 FROM troubles x WHERE x.id = {t}.trouble_id AND x.state = 'cleared'"
)


def _closed(table: str) -> str:
    """The row's alarm is resolved (or it has none) and its trouble cleared (or it has none)."""
    return (
        f"({table}.alarm_id IS NULL OR EXISTS ({_RESOLVED_ALARM.format(t=table)})) AND "
        f"({table}.trouble_id IS NULL OR EXISTS ({_CLEARED_TROUBLE.format(t=table)}))"
    )


@dataclass(frozen=True, slots=True)
class Rule:
    table: str
    select: str
    """selects the rowids (or keys) of rows to delete; `?` is the cutoff; LIMIT is appended"""
    key: str = "rowid"
    gate: str | None = None
    """run first in the same transaction, with the cutoff (the audit log's delete trigger)"""


OUTBOX: Final = Rule(
    "outbox",
    f"SELECT seq FROM outbox WHERE state <> 'pending' AND finished_at < ? AND {_closed('outbox')}",
    "seq",
)
ESCALATIONS: Final = Rule(
    "escalations",
    "SELECT subject FROM escalations WHERE state <> 'running' AND updated_at < ? AND "
    + _closed("escalations"),
    "subject",
)
UPSTREAM: Final = Rule(
    "upstream",
    "SELECT seq FROM upstream WHERE acked_at IS NOT NULL AND acked_at < ? AND "
    f"EXISTS ({_RESOLVED_ALARM.format(t='upstream')})",
    "seq",
)
# An ended alarm or trouble whose history may go: ended before the cutoff (?1), and its notices
# and escalation already gone (the two rules above keep a pending notice and its alarm).
_ALARM_MAY_GO: Final = (
    "a.state = 'resolved' AND a.resolved_at < ?1 AND "
    "NOT EXISTS (SELECT 1 FROM outbox o WHERE o.alarm_id = a.id) AND "
    "NOT EXISTS (SELECT 1 FROM escalations e WHERE e.alarm_id = a.id)"
)
_TROUBLE_MAY_GO: Final = (
    "x.state = 'cleared' AND x.cleared_at < ?1 AND "
    "NOT EXISTS (SELECT 1 FROM outbox o WHERE o.trouble_id = x.id) AND "
    "NOT EXISTS (SELECT 1 FROM escalations e WHERE e.trouble_id = x.id)"
)
# History, children first: nothing points at a row that is gone.
HISTORY: Final = (
    Rule(
        "presses",
        "SELECT p.id FROM presses p WHERE p.received_at < ?1 AND (p.alarm_id IS NULL OR "
        f"EXISTS (SELECT 1 FROM alarms a WHERE a.id = p.alarm_id AND {_ALARM_MAY_GO}))",
        "id",
    ),
    Rule(
        "audit",
        "SELECT u.id FROM audit u WHERE u.ts < ?1 AND "
        f"(u.alarm_id IS NULL OR NOT EXISTS (SELECT 1 FROM alarms a WHERE a.id = u.alarm_id) OR "
        f"EXISTS (SELECT 1 FROM alarms a WHERE a.id = u.alarm_id AND {_ALARM_MAY_GO})) AND "
        f"(u.trouble_id IS NULL OR NOT EXISTS (SELECT 1 FROM troubles x WHERE x.id = u.trouble_id) "
        f"OR EXISTS (SELECT 1 FROM troubles x WHERE x.id = u.trouble_id AND {_TROUBLE_MAY_GO}))",
        "id",
        "INSERT INTO meta (key, value) VALUES ('audit_prunable_before', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ),
    Rule(
        "post_changes",
        "SELECT c.id FROM post_changes c WHERE c.received_at < ?1 AND "
        f"EXISTS (SELECT 1 FROM alarms a WHERE a.id = c.alarm_id AND {_ALARM_MAY_GO})",
        "id",
    ),
    Rule(
        "alarms",
        "SELECT a.id FROM alarms a WHERE "
        + _ALARM_MAY_GO
        + " AND NOT EXISTS (SELECT 1 FROM presses p WHERE p.alarm_id = a.id)"
        + " AND NOT EXISTS (SELECT 1 FROM post_changes c WHERE c.alarm_id = a.id)",
        "id",
    ),
    Rule(
        "troubles",
        "SELECT x.id FROM troubles x WHERE "
        + _TROUBLE_MAY_GO
        + " AND NOT EXISTS (SELECT 1 FROM audit u WHERE u.trouble_id = x.id)",
        "id",
    ),
)


@dataclass(frozen=True, slots=True)
class Policy:
    history_days: int = 0
    outbox_days: int = 30
    escalations_days: int = 30
    interval_s: float = 3600.0
    batch: int = 500


Fence = Callable[[sqlite3.Connection], None]
"""A check made first in each transaction; it raises to write nothing."""


def lease_fence(epoch: Callable[[], int | None], writer_name: str) -> Fence:
    """The writer's fencing for retention's transactions on PostgreSQL: the store's lease epoch,
    read `FOR SHARE`, must still be this hub's (`epoch()`, None once it lost the lock), or the
    transaction writes nothing. Without it, a hub that lost the store to another without
    noticing yet (frozen, cut off: docs/HA.md) could still delete and audit.

    The row lock it takes is what the writer's batches take, with the same consequence: a hub
    frozen or cut off in the middle of such a transaction would keep the lease row locked and
    the next hub could not take the store. So the connection is first named as one of this
    hub's writer connections (`writer_name` and `-retention`), which a hub taking the store
    over ends: another hub, or this hub itself taking its lock back (its writer connection is
    spared then, not its retention's, whose row lock would hold the new epoch back)."""
    name = f"{writer_name}-retention"

    def check(conn: sqlite3.Connection) -> None:
        conn.execute("SELECT set_config('application_name', ?, false)", (name,))
        row = conn.execute(
            "SELECT epoch FROM store_lease WHERE key = ? FOR SHARE", (LOCK_KEY,)
        ).fetchone()
        held = epoch()
        stored = None if row is None else int(row[0])
        if held is None or stored != held:
            raise StoreError(
                f"this hub does not hold the store's lock (its epoch {held}, the store's "
                f"{stored}): pruning nothing"
            )

    return check


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, fence: Fence | None) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if fence is not None:
            fence(conn)
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def prune(
    conn: sqlite3.Connection, policy: Policy, now: datetime, *, fence: Fence | None = None
) -> dict[str, int]:
    """Delete what `policy` lets go, `batch` rows a transaction; return the count per table.
    `fence` is checked first in each transaction (`lease_fence`)."""
    plan: list[tuple[Rule, int]] = [
        (OUTBOX, policy.outbox_days),
        (UPSTREAM, policy.outbox_days),
        (ESCALATIONS, policy.escalations_days),
    ]
    if policy.history_days > 0:
        plan += [(rule, policy.history_days) for rule in HISTORY]
    counts: dict[str, int] = {}
    for rule, days in plan:
        cutoff = iso(now - timedelta(days=days))
        limit = int(policy.batch)
        delete = f"DELETE FROM {rule.table} WHERE {rule.key} IN ({rule.select} LIMIT {limit})"
        while True:
            with _transaction(conn, fence):
                if rule.gate is not None:
                    conn.execute(rule.gate, (cutoff,))
                deleted = conn.execute(delete, (cutoff,)).rowcount
            if deleted:
                counts[rule.table] = counts.get(rule.table, 0) + deleted
            if deleted < policy.batch:
                break
    if counts:
        with _transaction(conn, fence):
            detail = json.dumps({"rows": counts, "policy": asdict(policy)}, sort_keys=True)
            conn.execute(
                "INSERT INTO audit (ts, actor, action, detail) "
                "VALUES (?, 'hub', 'store.pruned', ?)",
                (iso(now), detail),
            )
    return counts


class Pruner:
    """The hub's part that applies the retention policy every `interval_s` (first after one)."""

    def __init__(
        self,
        path: Path | str,
        policy: Policy,
        *,
        clock: Clock,
        busy_timeout_ms: int,
        on_pruned: Callable[[str, int], None],
        fence: Fence | None = None,
    ) -> None:
        """`fence`: checked first in each transaction (`lease_fence` on PostgreSQL)."""
        self._fence = fence
        self._path = path
        self._policy = policy
        self._clock = clock
        self._busy_timeout_ms = busy_timeout_ms
        self._on_pruned = on_pruned
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run_once(self) -> dict[str, int]:
        now = self._clock.now()
        counts = await asyncio.to_thread(self._prune, now)
        for table, count in counts.items():
            self._on_pruned(table, count)
        if counts:
            log.info(
                "retention: pruned %s",
                ", ".join(f"{count} {table}" for table, count in sorted(counts.items())),
            )
        return counts

    def _prune(self, now: datetime) -> dict[str, int]:
        conn = open_sync_at(self._path, self._busy_timeout_ms)
        try:
            return prune(conn, self._policy, now, fence=self._fence)
        finally:
            conn.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._policy.interval_s)
            try:
                await self.run_once()
            except (sqlite3.Error, OSError, StoreError) as exc:
                # A full disk or a locked store: the press path reports those; try next time.
                log.warning("retention: pruning failed, will try again: %s", exc)
