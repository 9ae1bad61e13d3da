"""The WAL checkpoint, off the press path.

SQLite copies the WAL back into the database file (a checkpoint) by itself once the WAL holds
1,000 pages (`wal_autocheckpoint`), on the connection that commits, inside that COMMIT: the
writer's thread then writes up to 4 MiB and fsyncs the database file before the commit returns,
and the presses of that batch and every one behind it wait for their PUBACKs (measured:
docs/BENCHMARKS.md, "Stalls of the press path").

So the writer's connection has `wal_autocheckpoint = 0`, and this part checkpoints instead, on a
connection and a thread of its own, every `interval_s` when something was committed since:
`PRAGMA wal_checkpoint(PASSIVE)`, which takes no lock a commit needs (commits go on while it
copies; https://sqlite.org/c3ref/wal_checkpoint_v2.html). A checkpoint changes nothing of what is
durable: each commit is already synced in the WAL (`synchronous=FULL`), and the checkpoint syncs
the WAL before it copies and the database file before the WAL is reused.

The WAL starts again from its beginning only when a commit finds everything in it copied; a
passive checkpoint running beside a steady stream of commits may never see that moment, and the
WAL would grow. Once a checkpoint leaves more than `cap_frames` frames in the WAL, the next one
runs on the writer's own thread, between two transactions: nothing is appended while it copies,
so the WAL is reused from its start at the next commit. That holds one commit for the time of
one checkpoint, under a load that already makes the batches big.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, ParamSpec, TypeVar

from hub.store.db import WriterConnection

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

INTERVAL_S: Final = 1.0
CAP_FRAMES: Final = 4000
"""About 16 MiB of WAL with 4 KiB pages."""


@dataclass(frozen=True, slots=True)
class Checkpointed:
    busy: bool
    """a reader or writer kept it from copying everything"""
    frames: int
    """frames in the WAL"""
    copied: int
    """frames copied into the database file (all of them when `copied == frames`)"""
    seconds: float
    on_writer: bool


def checkpoint(conn: sqlite3.Connection) -> tuple[bool, int, int, float]:
    """A passive checkpoint on `conn` (on its own thread): (busy, frames, copied, seconds)."""
    started = time.perf_counter()
    row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    seconds = time.perf_counter() - started
    return bool(row[0]), int(row[1]), int(row[2]), seconds


def data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


class Checkpointer:
    def __init__(
        self,
        path: Path,
        writer: Callable[[], WriterConnection],
        *,
        busy_timeout_ms: int = 5000,
        interval_s: float = INTERVAL_S,
        cap_frames: int = CAP_FRAMES,
        on_checkpoint: Callable[[Checkpointed], None] | None = None,
    ) -> None:
        self._path = path
        self._writer = writer
        self._busy_timeout_ms = busy_timeout_ms
        self._interval_s = interval_s
        self._cap_frames = cap_frames
        self._on_checkpoint = on_checkpoint
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._version: int | None = None
        self._behind = False
        self.count = 0
        """Checkpoints run (for tests)."""

    async def start(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="store-checkpoint"
        )
        self._conn = await self._call(_connect, self._path, self._busy_timeout_ms)
        self._task = asyncio.create_task(self._run(), name="store-checkpoint")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                await self._call(conn.close)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.run_once()
            except sqlite3.Error as exc:
                log.warning(
                    "store: WAL checkpoint failed: %s (tried again in %.0fs)", exc, self._interval_s
                )

    async def run_once(self) -> Checkpointed | None:
        """Checkpoint if anything was committed since the last time; None if nothing was."""
        assert self._conn is not None
        version = await self._call(data_version, self._conn)
        if version == self._version and not self._behind:
            return None
        self._version = version
        if self._behind:
            busy, frames, copied, seconds = await self._writer().run(checkpoint)
        else:
            busy, frames, copied, seconds = await self._call(checkpoint, self._conn)
        done = Checkpointed(busy, frames, copied, seconds, on_writer=self._behind)
        # A WAL past the cap is one that commits never found wholly copied: the next
        # checkpoint runs where nothing is appended meanwhile (see the module's doc); one that
        # ran there and copied everything lets the next commit start the WAL again.
        self._behind = frames > self._cap_frames and not (done.on_writer and copied == frames)
        self.count += 1
        if self._on_checkpoint is not None:
            self._on_checkpoint(done)
        return done
