"""Retention against a real, migrated store (SQLite and PostgreSQL): each rule deletes what it
should and nothing else, in batches."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from pydantic import ValidationError

from hub.clock import iso
from hub.config.store import RetentionSection
from hub.errors import StoreError
from hub.store.db import open_sync_at
from hub.store.pg import LOCK_KEY, WRITER_NAME, StoreLock, migrate_pg
from hub.store.retention import Policy, lease_fence, prune

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WRITER = f"{WRITER_NAME}-retention-test"


def ago(days: float) -> str:
    return iso(NOW - timedelta(days=days))


def add_alarm(
    conn: sqlite3.Connection, alarm_id: str, *, raised: float, resolved: float | None
) -> None:
    seq = int(conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM alarms").fetchone()[0])
    conn.execute(
        "INSERT INTO alarms (id, seq, state, devices, press_count, raised_at, last_press_at, "
        "resolved_at, updated_at) VALUES (?, ?, ?, '[]', 1, ?, ?, ?, ?)",
        (
            alarm_id,
            seq,
            "active" if resolved is None else "resolved",
            ago(raised),
            ago(raised),
            None if resolved is None else ago(resolved),
            ago(resolved if resolved is not None else raised),
        ),
    )
    conn.execute(
        "INSERT INTO presses (button_id, event_id, type, alarm_id, received_at) "
        "VALUES ('b1', ?, 'press', ?, ?)",
        (f"e-{alarm_id}", alarm_id, ago(raised)),
    )
    conn.execute(
        "INSERT INTO audit (ts, actor, action, alarm_id) VALUES (?, 'hub', 'alarm.raised', ?)",
        (ago(raised), alarm_id),
    )
    add_notice(conn, f"alarm:{alarm_id}/1.0/n", alarm_id, state="delivered", finished=raised)
    conn.execute(
        "INSERT INTO escalations (subject, alarm_id, policy, started_at, progress, state, "
        "updated_at) VALUES (?, ?, 'default', ?, '{}', ?, ?)",
        (
            f"alarm:{alarm_id}",
            alarm_id,
            ago(raised),
            "running" if resolved is None else "stopped",
            ago(resolved if resolved is not None else raised),
        ),
    )


def add_notice(
    conn: sqlite3.Connection,
    key: str,
    alarm_id: str | None,
    *,
    state: str,
    finished: float | None,
) -> None:
    conn.execute(
        "INSERT INTO outbox (key, notifier, event, alarm_id, body, state, created_at, "
        "next_attempt_at, finished_at) VALUES (?, 'n', 'alarm', ?, '{}', ?, ?, ?, ?)",
        (
            key,
            alarm_id,
            state,
            ago(finished or 0),
            ago(finished or 0),
            None if finished is None else ago(finished),
        ),
    )


def ids(conn: sqlite3.Connection, sql: str) -> set[str]:
    return {str(row[0]) for row in conn.execute(sql)}


pytestmark = pytest.mark.both_stores
"""Every test here runs on SQLite and on PostgreSQL."""


@pytest.fixture
def conn(tmp_path: Path, store_url: str | None) -> Iterator[sqlite3.Connection]:
    connection = open_sync_at(store_url or tmp_path / "hub.db")
    add_alarm(connection, "old-resolved", raised=400, resolved=399)
    add_alarm(connection, "old-open", raised=400, resolved=None)
    add_alarm(connection, "recent-resolved", raised=10, resolved=9)
    add_alarm(connection, "month-resolved", raised=60, resolved=59)
    for n in range(7):  # more than a batch of old notices of the old alarm
        add_notice(
            connection, f"alarm:old-resolved/2.{n}/n", "old-resolved", state="failed", finished=300
        )
    add_notice(
        connection, "alarm:old-resolved/3.0/n", "old-resolved", state="pending", finished=None
    )
    connection.execute(
        "INSERT INTO audit (ts, actor, action) VALUES (?, 'user:a', 'login')", (ago(500),)
    )
    yield connection
    connection.close()


def test_by_default_only_sent_notices_and_finished_escalations_of_ended_alarms_go(
    conn: sqlite3.Connection,
) -> None:
    counts = prune(conn, Policy(batch=3), NOW)
    assert counts == {"outbox": 1 + 7 + 1, "escalations": 2}
    assert ids(conn, "SELECT alarm_id FROM outbox") == {
        "old-open",
        "recent-resolved",
        "old-resolved",
    }
    assert ids(conn, "SELECT key FROM outbox WHERE alarm_id = 'old-resolved'") == {
        "alarm:old-resolved/3.0/n"  # pending: never pruned
    }
    assert ids(conn, "SELECT alarm_id FROM escalations") == {"old-open", "recent-resolved"}
    # History is kept for ever by default.
    assert len(ids(conn, "SELECT id FROM alarms")) == 4
    assert int(conn.execute("SELECT count(*) FROM presses").fetchone()[0]) == 4
    assert int(conn.execute("SELECT count(*) FROM audit").fetchone()[0]) == 5 + 1  # store.pruned


def test_history_goes_after_its_days_once_the_alarm_ended_that_long_ago(
    conn: sqlite3.Connection,
) -> None:
    conn.execute("DELETE FROM outbox WHERE state = 'pending'")  # its alarm's last notice was sent
    prune(conn, Policy(history_days=365, batch=2), NOW)
    assert ids(conn, "SELECT id FROM alarms") == {"old-open", "recent-resolved", "month-resolved"}
    assert ids(conn, "SELECT alarm_id FROM presses") == {
        "old-open",
        "recent-resolved",
        "month-resolved",
    }
    assert ids(conn, "SELECT coalesce(alarm_id, action) FROM audit") == {
        "old-open",
        "recent-resolved",
        "month-resolved",
        "store.pruned",  # what went, and by which policy
    }  # the old login went too
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit WHERE alarm_id = 'recent-resolved'")


def test_an_alarm_with_a_pending_notice_stays_whatever_its_age(conn: sqlite3.Connection) -> None:
    prune(conn, Policy(history_days=365), NOW)
    assert "old-resolved" in ids(conn, "SELECT id FROM alarms")
    assert "old-resolved" in ids(conn, "SELECT alarm_id FROM presses")


def test_the_audit_log_stays_append_only_while_history_is_kept(
    conn: sqlite3.Connection,
) -> None:
    prune(conn, Policy(), NOW)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit WHERE action = 'login'")


def test_a_second_run_finds_nothing_more(conn: sqlite3.Connection) -> None:
    prune(conn, Policy(history_days=365, batch=2), NOW)
    assert prune(conn, Policy(history_days=365, batch=2), NOW) == {}


def test_history_shorter_than_the_notices_is_refused() -> None:
    with pytest.raises(ValidationError, match="history_days must be 0"):
        RetentionSection(history_days=10, outbox_days=30)


def test_acknowledged_upstream_changes_of_ended_alarms_go_and_post_changes_with_their_alarm(
    conn: sqlite3.Connection,
) -> None:
    """A post's changes the district has acknowledged go after `outbox_days` once their alarm is
    resolved; one not yet acknowledged stays whatever its age. At a district, a post's alarm goes
    with the changes received for it, after `history_days`."""
    rows = [
        ("old-resolved", 1, ago(300)),
        ("old-resolved", 2, None),  # the district has not acknowledged it yet
        ("old-open", 1, ago(300)),
        ("recent-resolved", 1, ago(5)),
    ]
    for alarm_id, change_seq, acked in rows:
        conn.execute(
            "INSERT INTO upstream (alarm_id, change_seq, change, body, queued_at, acked_at) "
            "VALUES (?, ?, 'raised', '{}', ?, ?)",
            (alarm_id, change_seq, ago(400), acked),
        )
    add_alarm(conn, "xa-a-1", raised=400, resolved=399)
    conn.execute("DELETE FROM presses WHERE alarm_id = 'xa-a-1'")  # a post's alarm: no presses
    conn.execute(
        "INSERT INTO post_changes (post_id, alarm_id, change_seq, change, at, received_at, body) "
        "VALUES ('xa-a', 'xa-a-1', 1, 'raised', ?, ?, '{}')",
        (ago(400), ago(400)),
    )
    prune(conn, Policy(), NOW)
    assert ids(conn, "SELECT alarm_id || ':' || change_seq FROM upstream") == {
        "old-resolved:2",
        "old-open:1",
        "recent-resolved:1",
    }
    assert "xa-a-1" in ids(conn, "SELECT id FROM alarms")  # history kept for ever by default
    prune(conn, Policy(history_days=365, outbox_days=30), NOW)
    assert ids(conn, "SELECT alarm_id FROM post_changes") == set()
    assert "xa-a-1" not in ids(conn, "SELECT id FROM alarms")


def test_a_hub_that_lost_the_store_prunes_nothing(pg_database: str) -> None:
    """Retention is fenced as the writer's batches are (docs/HA.md): on PostgreSQL each of its
    transactions reads the store's lease epoch first. A hub whose epoch is not the store's (it
    lost the store to another hub and has not noticed yet, or knows it: None) deletes and audits
    nothing; the hub that holds the store prunes."""
    conn = open_sync_at(pg_database)
    try:
        add_alarm(conn, "old-resolved", raised=400, resolved=399)
        conn.execute("INSERT INTO store_lease (key, epoch) VALUES (?, 2)", (LOCK_KEY,))

        def rows() -> list[int]:
            return [
                int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table in ("outbox", "escalations", "audit")
            ]

        before = rows()
        for stale in (1, None):
            with pytest.raises(StoreError, match="does not hold the store's lock"):
                prune(conn, Policy(), NOW, fence=lease_fence(lambda e=stale: e, WRITER))
            assert rows() == before
            assert not conn.in_transaction
        assert prune(conn, Policy(), NOW, fence=lease_fence(lambda: 2, WRITER)) == {
            "outbox": 1,
            "escalations": 1,
        }
        assert rows() == [before[0] - 1, before[1] - 1, before[2] + 1]  # and `store.pruned`
    finally:
        conn.close()


async def test_a_hub_frozen_while_it_prunes_does_not_keep_the_store_from_the_next(
    pg_database: str,
) -> None:
    """A hub frozen (or cut off) in the middle of a retention transaction holds the lease row, as
    a frozen writer's batch does. The hub that takes the store over ends that connection (it is
    named as the old hub's writer) and takes the store; it does not wait for the row."""
    migrate_pg(pg_database)
    frozen = open_sync_at(pg_database)
    try:
        frozen.execute("INSERT INTO store_lease (key, epoch) VALUES (?, 1)", (LOCK_KEY,))
        frozen.execute("BEGIN IMMEDIATE")
        lease_fence(lambda: 1, WRITER)(frozen)  # the row is locked; the hub stops here
        lock = StoreLock(pg_database, writer_name=f"{WRITER_NAME}-next")
        try:
            assert await lock.try_take()
            assert lock.epoch == 2
        finally:
            await lock.release()
        with pytest.raises(sqlite3.OperationalError):
            frozen.execute("SELECT 1")  # its session was ended
    finally:
        with contextlib.suppress(sqlite3.Error, psycopg.Error):
            frozen.close()
