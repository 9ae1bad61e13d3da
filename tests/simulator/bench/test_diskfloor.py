"""The disk floor: one WAL-sized frame written and synced per sample, in the given directory, as
SQLite's WAL does on each commit with `synchronous=FULL`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from simulator.bench import diskfloor
from simulator.bench.diskfloor import FILE_NAME, FRAME_BYTES, measure_disk_floor


def test_each_sample_writes_its_frames_then_fdatasyncs_and_the_file_wraps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 samples of 2 frames, wrapping every 3 frames: frames at offsets 0, 1 | 2, 0 | 1, 2 | 0, 1
    (in frames), each pair followed by `fdatasync`; the file is gone afterwards."""
    calls: list[tuple[str, int]] = []
    pwrite, fdatasync = os.pwrite, os.fdatasync

    def recording_pwrite(fd: int, data: bytes, offset: int) -> int:
        assert len(data) == FRAME_BYTES
        calls.append(("write", offset // FRAME_BYTES))
        return pwrite(fd, data, offset)

    def recording_fdatasync(fd: int) -> None:
        calls.append(("fdatasync", fd))
        fdatasync(fd)

    monkeypatch.setattr(diskfloor.os, "pwrite", recording_pwrite)
    monkeypatch.setattr(diskfloor.os, "fdatasync", recording_fdatasync)
    floor = measure_disk_floor(tmp_path, rate=1000, count=4, frames=2, wrap_frames=3)
    assert [c[1] for c in calls if c[0] == "write"] == [0, 1, 2, 0, 1, 2, 0, 1]
    assert [c[0] for c in calls] == ["write", "write", "fdatasync"] * 4
    assert floor.latency is not None
    assert floor.latency.count == 4
    assert (floor.sync, floor.frame_bytes, floor.frames) == ("fdatasync", FRAME_BYTES, 2)
    assert floor.directory == str(tmp_path)
    assert not (tmp_path / FILE_NAME).exists()
