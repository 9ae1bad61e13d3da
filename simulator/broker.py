"""A private Mosquitto on a free port: for the tests, the demo and the benchmarks.

The generated configuration keeps the queue settings of the post's (config/mosquitto/): queues
for absent clients far above any outage, Nagle's algorithm off. It differs in two ways: its
persistence file is saved on every change by default (`save_every`), stricter than the post's
5-second snapshot, and QoS 0 messages are not queued. With `shipped=True` it takes instead every
persistence, queue and latency setting of config/mosquitto/mosquitto.conf as it is written there
(`SHIPPED_KEYS`: a 5-second snapshot and at exit, QoS 0 queued): what the benchmark's "as shipped"
broker runs. It stays anonymous and without an ACL (no passwords to give the load). The tests of
the shipped configuration itself run the whole file (tests/integration/supervision/shipped.py).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Final

SEARCH_PATH: Final = ("/usr/sbin", "/usr/local/sbin", "/sbin")
SHIPPED_CONFIG: Final = Path(__file__).parents[1] / "config" / "mosquitto" / "mosquitto.conf"
SHIPPED_KEYS: Final = frozenset(
    {
        "persistence",
        "autosave_on_changes",
        "autosave_interval",
        "max_queued_messages",
        "max_queued_bytes",
        "max_inflight_messages",
        "persistent_client_expiration",
        "queue_qos0_messages",
        "set_tcp_nodelay",
        "max_packet_size",
    }
)
"""What `shipped=True` takes from the post's config: persistence, queues, latency, packet size."""


def shipped_settings(path: Path = SHIPPED_CONFIG) -> list[str]:
    """The lines of the post's mosquitto.conf whose key is in `SHIPPED_KEYS`, as written."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BrokerError(f"cannot read the shipped broker config {path}: {exc}") from exc
    lines = [line.strip() for line in text.splitlines()]
    found = [line for line in lines if line.split(" ", 1)[0] in SHIPPED_KEYS]
    keys = {line.split(" ", 1)[0] for line in found}
    if not {"persistence", "autosave_interval", "autosave_on_changes"} <= keys:
        raise BrokerError(f"{path}: no persistence settings found")
    return found


class BrokerError(RuntimeError):
    pass


def find_mosquitto() -> str:
    found = shutil.which("mosquitto") or shutil.which(
        "mosquitto", path=os.pathsep.join(SEARCH_PATH)
    )
    if found is None:
        raise BrokerError(
            "mosquitto is not installed (apt-get install mosquitto, or run `make install`)"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


class Mosquitto:
    """One broker process. `start`, `stop` (SIGTERM: saves its persistence), `kill` (SIGKILL)."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        persistence: bool = True,
        password_file: Path | None = None,
        acl_file: Path | None = None,
        save_every: int = 1,
        shipped: bool = False,
    ) -> None:
        self.workdir = workdir
        self.host = host
        self.port = port or free_port(host)
        self.persistence = persistence
        self.password_file = password_file
        self.acl_file = acl_file
        self.save_every = save_every
        """With persistence: save after this many changes (1, the project's no-loss setting)."""
        self.shipped = shipped
        """Persistence, queues and latency settings as config/mosquitto/mosquitto.conf has them
        (`save_every` and `persistence` then do not apply)."""
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.shipped:
            lines = [
                f"listener {self.port} {self.host}",
                *shipped_settings(),
                f"persistence_location {self.workdir}/",
                *self._log_lines(),
            ]
        else:
            lines = self._own_lines()
        if os.geteuid() == 0:
            # As root, Mosquitto drops to the `mosquitto` user, which cannot write a private
            # work directory; this broker stays the user that started it.
            lines.append(f"user {getpass.getuser()}")
        if self.password_file is not None:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl_file is not None:
            lines.append(f"acl_file {self.acl_file}")
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self.config_path

    def _log_lines(self) -> list[str]:
        return [
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]

    def _own_lines(self) -> list[str]:
        lines = [
            f"listener {self.port} {self.host}",
            "set_tcp_nodelay true",
            # Not 0: Mosquitto 2.0 mishandles "no limit" (see config/mosquitto/mosquitto.conf).
            "max_queued_messages 1000000",
            "max_queued_bytes 0",
            "max_inflight_messages 100",
            "persistent_client_expiration 30d",
            "queue_qos0_messages false",
            *self._log_lines(),
        ]
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.workdir}/",
                "autosave_on_changes true",
                f"autosave_interval {self.save_every}",
            ]
        return lines

    def start(self, timeout: float = 10.0) -> Mosquitto:
        if self.process is not None and self.process.poll() is None:
            return self
        self.write_config()
        self.process = subprocess.Popen(  # noqa: S603  # our own binary and generated config
            [find_mosquitto(), "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (
                    self.process.stderr.read().decode(errors="replace")
                    if self.process.stderr
                    else ""
                )
                log = (
                    self.log_path.read_text(errors="replace")[-2000:]
                    if self.log_path.exists()
                    else ""
                )
                raise BrokerError(f"mosquitto exited with {self.process.returncode}: {err}{log}")
            if port_open(self.host, self.port):
                return self
            time.sleep(0.02)
        self.kill()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: Mosquitto saves its persistence file and exits."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        self._signal(signal.SIGKILL, 10.0)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _signal(self, signum: signal.Signals, timeout: float) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signum)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
