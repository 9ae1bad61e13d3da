"""The demo's banner prints commands that work as printed, in the shell `make run` was typed in
(where the venv's bin is not on the PATH)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.broker import free_port

pytestmark = pytest.mark.sqlite_only("`chuong demo` always keeps its store in SQLite")

REPO = Path(__file__).parents[2]
VENV_CHUONG = Path(sys.executable).parent / "chuong"
"""The venv's script, which `make run` starts as `.venv/bin/chuong demo` from the clone"""


def shell_env() -> dict[str, str]:
    """The environment of a shell that never activated the venv."""
    venv_bin = str(Path(sys.executable).parent)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(path or ["/usr/local/bin", "/usr/bin", "/bin"])
    return env


def run_as_printed(line: str) -> subprocess.CompletedProcess[str]:
    """The banner's line pasted into a shell in the clone."""
    return subprocess.run(
        ["bash", "-c", line],
        cwd=REPO,
        env=shell_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


async def test_the_banners_commands_run_as_printed(tmp_path: Path) -> None:
    """`make run` starts `.venv/bin/chuong demo` from the clone. The banner's curl reads the
    alarms with the printed token, and its "press one" command, pasted into a shell without the
    venv on the PATH, presses a simulated button and hears the hub answer."""
    program = VENV_CHUONG.relative_to(REPO) if VENV_CHUONG.is_relative_to(REPO) else VENV_CHUONG
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(program),
        "demo",
        "--dir",
        str(tmp_path / "demo"),
        "--http-port",
        str(port),
        cwd=REPO,
        env=shell_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    banner = ""
    try:
        while "Ctrl+C stops everything" not in banner:
            line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
            assert line, f"the demo ended early:\n{banner}"
            banner += line
        drain = asyncio.create_task(process.stdout.read(), name="drain the demo's output")
        curl = re.search(r"^\s+(curl .*)$", banner, re.MULTILINE)
        press = re.search(r"press one\s+(.*)$", banner, re.MULTILINE)
        assert curl, banner
        assert press, banner

        listed = await asyncio.to_thread(run_as_printed, curl.group(1) + " --fail --silent")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.startswith("["), listed.stdout

        pressed = await asyncio.to_thread(run_as_printed, press.group(1))
        assert pressed.returncode == 0, pressed.stdout + pressed.stderr
        assert "hub answered in" in pressed.stdout, pressed.stdout
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 60)
    await drain
    assert code == 0
