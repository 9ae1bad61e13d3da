"""`chuong store migrate` and the link between a post and its district (docs/DISTRICT.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.store import Changes, Store
from hub.store.ops import Op, QueueUpstream, RecordPostChange, UpsertPost
from hub.store.transfer import migrate_sqlite_to_pg

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


async def commit(store: Store, *ops: Op) -> None:
    changes = Changes()
    changes.ops.extend(ops)
    await store.commit(changes)


async def test_the_link_tables_move_to_postgresql_with_the_rest(
    tmp_path: Path, pg_database: str
) -> None:
    """`chuong store migrate` copies the changes waiting for the district, the district's record
    and its posts; on PostgreSQL the next change continues each alarm's numbering and the table's
    own."""
    lite = Store(tmp_path / "lite.db")
    await lite.open()
    await commit(
        lite,
        QueueUpstream("a", "raised", {"n": 1}, NOW),
        QueueUpstream("a", "press", {"n": 2}, NOW),
        RecordPostChange("p1", "p1-1", 1, "raised", None, NOW, NOW, {}),
        UpsertPost("p1", "Xã A", 30.0, NOW),
    )
    await lite.close()
    target = pg_database
    counts = migrate_sqlite_to_pg(lite.path, target)
    assert (counts["upstream"], counts["post_changes"], counts["posts"]) == (2, 1, 1)
    moved = Store(lite.path, url=target)
    await moved.open()
    try:
        await commit(moved, QueueUpstream("a", "acknowledged", {"n": 3}, LATER))
        pending = await moved.upstream_pending(10)
        assert [(r.seq, r.change_seq) for r in pending] == [(1, 1), (2, 2), (3, 3)]
        assert await moved.post_last_changes() == {("p1", "p1-1"): 1}
    finally:
        await moved.close()
