"""The disk floor: what the store's disk alone costs a commit, next to the broker hop.

A SQLite commit of the hub (WAL, `synchronous=FULL`) appends its pages to the WAL file, each a
frame (a 24-byte header, then the 4,096-byte page), and calls `fdatasync` on the WAL before the
COMMIT returns; once a checkpoint has copied the WAL into the database, the next commit writes
from the WAL's start again, over blocks the file already has (docs/FACTS.md, "SQLite"). The disk
floor does the same with no database: at the latency phase's rate, it writes `frames` frames (as
many as the hub's commit of one new press: its alarm, press, audit and device rows and their
indexes) to a file in the store's directory, at the next offsets, coming back to the start every
`wrap_frames` frames, then calls `fdatasync`; it times the writes and the sync together. So the
press path's figures can be set against what the same disk takes for the same commit, in the
same run, with no SQL, no event loop and no thread hop.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from simulator.bench.latency import paced
from simulator.bench.stats import Latency

FRAME_BYTES: Final = 24 + 4096
"""One WAL frame: its header and a page of SQLite's default size."""
PRESS_FRAMES: Final = 13
"""Frames the hub's commit of one new press adds to the WAL (measured on this version: 13, up to
16 when a B-tree page splits)."""
WRAP_FRAMES: Final = 1000
"""Frames before the file is written from its start again (SQLite's automatic checkpoint
threshold, in pages)."""
FILE_NAME: Final = "disk-floor.wal"


@dataclass(frozen=True, slots=True)
class DiskFloor:
    directory: str
    sync: str
    """the call timed with the write (`fdatasync`, what SQLite uses on Linux)"""
    frame_bytes: int
    frames: int
    """frames written before each sync"""
    rate: float
    latency: Latency | None


def measure_disk_floor(
    directory: Path,
    rate: float,
    count: int,
    *,
    frames: int = PRESS_FRAMES,
    frame_bytes: int = FRAME_BYTES,
    wrap_frames: int = WRAP_FRAMES,
) -> DiskFloor:
    """`count` commits' worth of writes (`frames` frames, then `fdatasync`) at `rate` a second,
    in `directory` (the store's); the file is removed afterwards."""
    path = directory / FILE_NAME
    frame = os.urandom(frame_bytes)
    samples: list[float] = []
    written = 0
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in paced(count, rate):
            started = time.monotonic()
            for _ in range(frames):
                os.pwrite(fd, frame, (written % wrap_frames) * frame_bytes)
                written += 1
            os.fdatasync(fd)
            samples.append(time.monotonic() - started)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return DiskFloor(
        directory=str(directory),
        sync="fdatasync",
        frame_bytes=frame_bytes,
        frames=frames,
        rate=rate,
        latency=Latency.of(samples),
    )
