"""systemd's notify protocol (sd_notify(3)) in a few lines of the standard library.

`READY=1` once the store is open and the subscription confirmed; `WATCHDOG=1` at half the
`WatchdogSec=` period, only while the hub is healthy, so that a hung hub is restarted; `STOPPING=1`
on a clean stop. Without `NOTIFY_SOCKET` (not under systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """Send one datagram to systemd; True if it was sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # the abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError as exc:
        log.warning("sd_notify: cannot send %r: %s", message, exc)
        return False
    return True


def watchdog_interval() -> float | None:
    """Half of systemd's watchdog period in seconds, if the watchdog is on for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None
