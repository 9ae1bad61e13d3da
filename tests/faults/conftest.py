"""Fixtures of the fault suite: a small real filesystem that can be filled up."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs mounted for the test (root only: CI runs as root on this machine kind).

    Not smaller: SQLite's write-ahead log grows to about 4 MiB (1,000 pages) between checkpoints,
    and on a slow machine each press is its own small commit, so a 4 MiB disk filled up before the
    test meant it to (CI failed that way on a 2-core machine)."""
    if os.geteuid() != 0:
        pytest.fail(
            "the disk-full test mounts a small tmpfs and needs root (run make test as root)"
        )
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32m,mode=0755", "tmpfs", str(mount)], check=True
    )
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write a file until the filesystem is full; return it (delete it to free the space)."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(chunk)
                handle.flush()
        except OSError:
            pass
    return filler
