"""`chuong demo` prints a login that works: someone who has never seen the hub can log in."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
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


def _start_demo(
    workdir: Path, port: int, stderr: int = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    chuong = str(Path(sys.executable).with_name("chuong"))
    return subprocess.Popen(
        [chuong, "demo", "--dir", str(workdir), "--http-port", str(port), "--press-every", "3600"],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, "CHUONG_LOG__LEVEL": "WARNING"},
    )


async def test_the_demo_prints_an_officer_login_that_works(tmp_path: Path) -> None:
    """The banner names the page's address, the officer `trucban` and a password; logging in
    with them gives an officer session. A restart of the demo prints the same password and
    leaves the page logged in (its session still works)."""
    port = free_port()
    passwords = []
    cookies = httpx.Cookies()
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
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, cookies=cookies) as client:
                if len(passwords) == 1:
                    response = await client.post(
                        "/login", json={"username": username, "password": password}
                    )
                    assert response.status_code == 200, response.text
                    assert response.json()["role"] == "officer"
                    cookies.update(client.cookies)
                else:
                    response = await client.get("/api/v1/session")
                    assert response.status_code == 200, response.text
                    assert response.json()["username"] == "trucban"
        finally:
            process.send_signal(signal.SIGINT)
            assert await asyncio.to_thread(process.wait, 30) == 0
    assert passwords[0] == passwords[1]
    assert (tmp_path / "officer-password").stat().st_mode & 0o777 == 0o600


async def test_a_changed_officer_password_gets_a_new_one_printed(tmp_path: Path) -> None:
    """If the kept password no longer logs in (changed with `chuong user passwd`), the demo
    sets and prints a new one rather than a password that does not work."""
    port = free_port()
    (tmp_path / "officer-password").write_text("not-the-password\n")
    process = _start_demo(tmp_path, port)
    try:
        banner = await asyncio.to_thread(_read_banner, process)
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(process.wait, 30) == 0
    found = re.search(r"password\s+(\S+)", banner)
    assert found is not None, banner
    assert found.group(1) != "not-the-password"
    assert (tmp_path / "officer-password").read_text().strip() == found.group(1)


async def test_a_taken_port_says_how_to_choose_another(tmp_path: Path) -> None:
    """The page's port is in use: the demo exits 1 naming it and --http-port (and make's ARGS)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _start_demo(tmp_path, port, stderr=subprocess.PIPE)
        _, err = await asyncio.to_thread(process.communicate, timeout=60)
    assert process.returncode == 1, err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert f"--http-port {port + 1}" in err
    assert f'make run ARGS="--http-port {port + 1}"' in err
