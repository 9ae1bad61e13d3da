"""An alarm's kind is stored and loaded; alarms from before kinds existed are hold-ups."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from hub.domain.alarms import raise_alarm
from hub.domain.model import Alarm, AlarmKind
from hub.domain.views import AlarmView
from hub.store import Changes, Store
from hub.store.db import migrations, open_sync

NOW = datetime(2026, 11, 22, 14, 5, 1, 123000, tzinfo=UTC)


def raised(seq: int, kind: AlarmKind = AlarmKind.HOLDUP) -> Alarm:
    return raise_alarm(
        hub_id="h",
        seq=seq,
        button=f"b{seq}",
        event_id="e1",
        site=None,
        registered=False,
        test=False,
        now=NOW,
        kind=kind,
    )


async def test_each_kind_is_stored_loaded_and_shown(tmp_path: Path) -> None:
    store = Store(tmp_path / "hub.db")
    await store.open()
    try:
        changes = Changes()
        for seq, kind in enumerate(AlarmKind, start=1):
            alarm = raised(seq, kind)
            changes.alarms[alarm.id] = alarm
        await store.commit(changes)
        for seq, kind in enumerate(AlarmKind, start=1):
            loaded = await store.get_alarm(f"h-{seq}")
            assert loaded is not None
            assert loaded.kind is kind
            assert AlarmView.of(loaded).model_dump(mode="json")["kind"] == kind.value
        state = await store.load_state()
        assert {a.kind for a in state.alarms.values()} == set(AlarmKind)
    finally:
        await store.close()


def test_an_alarm_from_before_kinds_is_a_holdup(tmp_path: Path) -> None:
    """Migration 8 gives the alarms (and buttons) already stored the kind `holdup`."""
    path = tmp_path / "hub.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        for migration in migrations():
            if migration.number >= 8:
                break
            conn.executescript(migration.sql)
            conn.execute(f"PRAGMA user_version = {migration.number}")
        conn.execute(
            "INSERT INTO alarms (id, seq, state, devices, press_count, raised_at, last_press_at, "
            "updated_at) VALUES ('h-1', 1, 'active', '[]', 1, 'x', 'x', 'x')"
        )
        conn.execute("INSERT INTO buttons (id, created_at, updated_at) VALUES ('b1', 'x', 'x')")
        conn.commit()
    with contextlib.closing(open_sync(path)) as conn:
        assert conn.execute("SELECT kind FROM alarms").fetchone()[0] == "holdup"
        assert tuple(conn.execute("SELECT kind, press_patterns FROM buttons").fetchone()) == (
            "holdup",
            None,
        )


def test_an_alarm_object_without_a_kind_reads_as_a_holdup() -> None:
    """A notification queued by an older hub (its body's alarm has no `kind`) is still sent."""
    old = AlarmView.of(raised(1)).model_dump(mode="json")
    del old["kind"]
    assert AlarmView.model_validate(old).kind is AlarmKind.HOLDUP
