"""`chuong demo` prints a login that works: someone who has never seen the hub can log in."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from simulator.broker import free_port


def _read_banner(process: subprocess.Popen[str], timeout: float = 60) -> str:
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if "Ctrl+C" in line:
            return "".join(seen)
    raise AssertionError(f"no banner from the demo:\n{''.join(seen)}")


def _start_demo(workdir: Path, port: int) -> subprocess.Popen[str]:
    chuong = str(Path(sys.executable).with_name("chuong"))
    return subprocess.Popen(
        [chuong, "demo", "--dir", str(workdir), "--http-port", str(port), "--press-every", "3600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "CHUONG_LOG__LEVEL": "WARNING"},
    )


async def test_the_demo_prints_an_officer_login_that_works(tmp_path: Path) -> None:
    """The banner names the page's address, the officer `trucban` and a password; logging in
    with them gives an officer session. A second run prints a new password, and the old one
    stops working."""
    port = free_port()
    passwords = []
    for _ in range(2):
        process = _start_demo(tmp_path, port)
        try:
            banner = await asyncio.to_thread(_read_banner, process)
            assert f"http://127.0.0.1:{port}" in banner
            found = re.search(r"log in as\s+(\S+)\s+password\s+(\S+)", banner)
            assert found is not None, banner
            username, password = found.groups()
            assert username == "trucban"
            passwords.append(password)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                response = await client.post(
                    "/login", json={"username": username, "password": password}
                )
                assert response.status_code == 200, response.text
                assert response.json()["role"] == "officer"
                if len(passwords) == 2:
                    old = {"username": username, "password": passwords[0]}
                    assert (await client.post("/login", json=old)).status_code == 401
        finally:
            process.send_signal(signal.SIGINT)
            assert await asyncio.to_thread(process.wait, 30) == 0
    assert passwords[0] != passwords[1]
