"""systemd's notify protocol, against a real datagram socket standing in for systemd."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub import sdnotify
from simulator.broker import Mosquitto
from tests.conftest import HubProcess, wait_for


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    yield path, sock
    sock.close()


def _received(sock: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


def test_notify_sends_one_datagram_and_is_silent_without_systemd(
    notify_socket: tuple[str, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With NOTIFY_SOCKET the message arrives as one datagram; without it nothing is sent."""
    path, sock = notify_socket
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert sdnotify.notify("READY=1\nSTATUS=ready") is True
    assert _received(sock) == ["READY=1\nSTATUS=ready"]


def test_abstract_namespace_addresses_are_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    """An address starting with '@' is in Linux's abstract namespace."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0chuong-test-notify")
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@chuong-test-notify")
        assert sdnotify.notify("WATCHDOG=1")
        assert sock.recv(100) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_watchdog_interval_is_half_the_period_for_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """WATCHDOG_USEC=30 s gives pings every 15 s; a WATCHDOG_PID of another process means off."""
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sdnotify.watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert sdnotify.watchdog_interval() is None


async def test_the_hub_says_ready_pings_the_watchdog_and_says_stopping(
    hub_process: Callable[..., HubProcess],
    broker: Mosquitto,
    notify_socket: tuple[str, socket.socket],
) -> None:
    """Under a stand-in systemd: READY=1 once subscribed, WATCHDOG=1 pings at half the period
    while healthy, STOPPING=1 on SIGTERM."""
    path, sock = notify_socket
    hub = hub_process({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}).start()
    await hub.wait_ready()
    messages: list[str] = []

    def pinged_twice() -> bool:
        messages.extend(_received(sock))
        return sum(m == "WATCHDOG=1" for m in messages) >= 2

    await wait_for(pinged_twice, timeout=10)
    assert messages[0] == "READY=1\nSTATUS=ready"
    assert await asyncio.get_running_loop().run_in_executor(None, hub.terminate) == 0
    messages.extend(_received(sock))
    assert "STOPPING=1" in messages
