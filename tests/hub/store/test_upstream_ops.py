"""The store's operations and reads for the link between a post and its district
(docs/DISTRICT.md), on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.store import Changes, Store
from hub.store.ops import MarkUpstreamAcked, Op, QueueUpstream, RecordPostChange, UpsertPost

pytestmark = pytest.mark.both_stores

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


@pytest.fixture
async def store(tmp_path: Path, store_url: str | None) -> AsyncIterator[Store]:
    store = Store(tmp_path / "hub.db", url=store_url)
    await store.open()
    yield store
    await store.close()


async def commit(store: Store, *ops: Op) -> None:
    changes = Changes()
    changes.ops.extend(ops)
    await store.commit(changes)


async def test_upstream_rows_count_each_alarms_changes_and_stay_until_acknowledged(
    store: Store,
) -> None:
    """Each alarm's changes are numbered 1, 2, 3 without gaps, also several in one batch; a row
    leaves the pending list only once marked acknowledged."""
    await commit(store, QueueUpstream("a", "raised", {"n": 1}, NOW))
    await commit(
        store,
        QueueUpstream("b", "raised", {"n": 2}, NOW),
        QueueUpstream("a", "press", {"n": 3}, NOW),
        QueueUpstream("a", "acknowledged", {"n": 4}, NOW),
    )
    pending = await store.upstream_pending(10)
    assert [(r.alarm_id, r.change_seq, r.change) for r in pending] == [
        ("a", 1, "raised"),
        ("b", 1, "raised"),
        ("a", 2, "press"),
        ("a", 3, "acknowledged"),
    ]
    assert [r.body["n"] for r in pending] == [1, 2, 3, 4]
    await commit(store, MarkUpstreamAcked((pending[0].seq, pending[2].seq), LATER))
    assert [r.seq for r in await store.upstream_pending(10)] == [pending[1].seq, pending[3].seq]
    await commit(store, QueueUpstream("a", "resolved", {}, LATER))
    assert (await store.upstream_pending(10))[-1].change_seq == 4


async def test_a_post_change_is_kept_once(store: Store) -> None:
    """The district's record of a post's change: the same (post, alarm, change_seq) twice is
    kept once; the last applied change of each alarm is read back."""
    change = RecordPostChange("p1", "p1-1", 1, "raised", "button:b1", NOW, LATER, {"id": "p1-1"})
    await commit(store, change, change, UpsertPost("p1", "Xã A", 30.0, NOW))
    await commit(store, RecordPostChange("p1", "p1-1", 2, "press", None, NOW, LATER, {}))
    assert await store.post_last_changes() == {("p1", "p1-1"): 2}
    assert [c.change for c in await store.post_changes("p1-1")] == ["raised", "press"]
    [post] = await store.posts()
    assert (post.id, post.name, post.period_s) == ("p1", "Xã A", 30.0)
