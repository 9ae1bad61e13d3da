"""The WAL is checkpointed off the press path (hub/store/checkpoint.py), and still checkpointed:
the writer's COMMIT never copies the WAL back, and the WAL does not grow without bound."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub.store import Changes, Store
from hub.store.checkpoint import Checkpointed, Checkpointer

ROW = "x" * 3000
"""About one page per commit."""


def _changes(n: int) -> Changes:
    changes = Changes()
    changes.meta[f"k{n % 50}"] = f"{n}{ROW}"
    return changes


def _wal(store: Store) -> int:
    wal = Path(f"{store.path}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def _opened(tmp_path: Path) -> Store:
    store = Store(tmp_path / "hub.db")
    await store.open()
    return store


async def test_the_writer_never_checkpoints_in_its_commit(tmp_path: Path) -> None:
    """`wal_autocheckpoint` is off on the writer's connection: with nobody checkpointing, the
    WAL keeps every commit (this is what the checkpointer below is for)."""
    store = await _opened(tmp_path)
    try:
        [row] = await store.writer.execute_fetchall("PRAGMA wal_autocheckpoint")
        assert int(row[0]) == 0
        for n in range(300):
            await store.commit(_changes(n))
        assert _wal(store) > 300 * 4096
    finally:
        await store.close()


async def test_checkpoints_between_commits_keep_the_wal_small(tmp_path: Path) -> None:
    """A passive checkpoint on the checkpointer's own connection copies the WAL back; the next
    commit starts the WAL again from its beginning, so it stays small however many commits."""
    store = await _opened(tmp_path)
    checkpointer = store.checkpointer(interval_s=3600)
    assert checkpointer is not None
    await checkpointer.start()
    try:
        for n in range(300):
            await store.commit(_changes(n))
            if n % 20 == 19:
                done = await checkpointer.run_once()
                assert done is not None
                assert not done.on_writer
                assert done.copied == done.frames
        window = _wal(store)  # about 20 commits' worth, never reset in between
        for n in range(300, 600):
            await store.commit(_changes(n))
            if n % 20 == 19:
                await checkpointer.run_once()
        assert _wal(store) == window  # 300 more commits: not a byte more
        assert window < 300 * 4096  # the bound that, without checkpoints, is passed above
        assert await checkpointer.run_once() is None  # nothing committed since: nothing to do
    finally:
        await checkpointer.stop()
        await store.close()


async def test_a_wal_past_the_cap_is_checkpointed_on_the_writers_thread(tmp_path: Path) -> None:
    """A WAL that grew past `cap_frames` (commits never found it wholly copied) is checkpointed
    next on the writer's thread, between two transactions; then the WAL starts again."""
    store = await _opened(tmp_path)
    seen: list[Checkpointed] = []
    checkpointer = store.checkpointer(interval_s=3600, cap_frames=30, on_checkpoint=seen.append)
    assert checkpointer is not None
    await checkpointer.start()
    try:
        for n in range(100):
            await store.commit(_changes(n))
        first = await checkpointer.run_once()
        assert first is not None
        assert not first.on_writer
        assert first.frames > 30
        second = await checkpointer.run_once()
        assert second is not None
        assert second.on_writer
        assert second.copied == second.frames
        await store.commit(_changes(0))
        third = await checkpointer.run_once()
        assert third is not None
        assert third.frames < 30  # the WAL started again
        assert not third.on_writer
        assert seen == [first, second, third]
    finally:
        await checkpointer.stop()
        await store.close()


async def test_the_checkpointer_runs_by_itself(tmp_path: Path) -> None:
    """Started, it checkpoints every `interval_s` once something was committed."""
    store = await _opened(tmp_path)
    checkpointer = store.checkpointer(interval_s=0.01)
    assert checkpointer is not None
    await checkpointer.start()
    try:
        await store.commit(_changes(1))
        for _ in range(500):
            if checkpointer.count:
                break
            await asyncio.sleep(0.01)
        assert checkpointer.count >= 1
    finally:
        await checkpointer.stop()
        await store.close()


def test_no_checkpointer_on_postgresql() -> None:
    assert Store(Path("unused"), url="postgresql://x@localhost/db").checkpointer() is None
    assert isinstance(Store(Path("hub.db")).checkpointer(), Checkpointer)
