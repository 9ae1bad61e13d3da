"""Time a batch commit three ways (docs/BENCHMARKS.md, "A batch's transaction in one round
trip"): aiosqlite's private `_execute` (one round trip, the old way), aiosqlite's public API
(one round trip per statement), and stdlib sqlite3 on one dedicated thread
(one round trip, what the hub uses: `hub.store.db.WriterConnection`). Same SQL, same pragmas
(WAL, synchronous=FULL), same batches.

    .venv/bin/python scripts/store_commit_timing.py [ROUNDS [BATCHES [DIRECTORY]]]

DIRECTORY /dev/shm takes the disk's fsync out and leaves the round trips.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

from hub.domain.model import DeviceState
from hub.store.changes import Changes, _write
from hub.store.db import WriterConnection, open_sync
from hub.store.ops import PressRow

PRAGMAS = ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON"]


def batch(n: int, presses: int) -> list:
    now = datetime.now(UTC)
    changes = Changes()
    for p in range(presses):
        changes.presses.append(
            PressRow(
                f"b{p}", f"e{n}-{p}", "press", None, now.isoformat(), None, None, None, 0, None
            ),
        )
        changes.add_audit(now.isoformat(), "hub", "press.recorded", button_id=f"b{p}")
        changes.devices[f"b{p}"] = DeviceState(button_id=f"b{p}", first_seen=now, last_seen=now)
    return changes.statements(100)


async def private(path: Path, batches: list) -> list[float]:
    conn = await aiosqlite.connect(path, isolation_level=None)
    for p in PRAGMAS:
        await conn.execute(p)
    times = []
    for statements in batches:
        t = time.perf_counter()
        await conn._execute(_write, conn._conn, statements)
        times.append(time.perf_counter() - t)
    await conn.close()
    return times


async def public(path: Path, batches: list) -> list[float]:
    conn = await aiosqlite.connect(path, isolation_level=None)
    for p in PRAGMAS:
        await conn.execute(p)
    times = []
    for statements in batches:
        t = time.perf_counter()
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in statements:
                await conn.executemany(sql, rows)
            await conn.execute("COMMIT")
        except BaseException:
            await conn.rollback()
            raise
        times.append(time.perf_counter() - t)
    await conn.close()
    return times


async def thread(path: Path, batches: list) -> list[float]:
    conn = await WriterConnection.open(path, 5000)
    times = []
    for statements in batches:
        t = time.perf_counter()
        await conn.run(_write, statements)
        times.append(time.perf_counter() - t)
    await conn.close()
    return times


async def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    results: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(dir=sys.argv[3] if len(sys.argv) > 3 else None) as tmp:
        for r in range(rounds):
            for presses in (1, 50):
                for name, way in (
                    ("private _execute", private),
                    ("public API", public),
                    ("sqlite3 thread", thread),
                ):
                    path = Path(tmp) / f"{name.replace(' ', '_')}-{r}-{presses}.db"
                    open_sync(path).close()
                    batches = [batch(n, presses) for n in range(count)]
                    results.setdefault((name, presses), []).extend(await way(path, batches))
    for (name, presses), times in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        ms = sorted(t * 1000 for t in times)
        print(
            f"{presses:3d} presses/batch  {name:17s} median {statistics.median(ms):6.3f} ms  "
            f"p90 {ms[int(len(ms) * 0.9)]:6.3f} ms  mean {statistics.fmean(ms):6.3f} ms  "
            f"(n={len(ms)})"
        )


asyncio.run(main())
