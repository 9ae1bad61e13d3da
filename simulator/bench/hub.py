"""The hub under test: a real `python -m hub run` subprocess, configured only by `CHUONG_*`
environment variables, exactly as systemd would run it. The benchmark never reaches inside it:
what it knows of the hub comes from MQTT, HTTP, the store file and /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from hub.store.db import open_sync_at
from simulator.bench.stats import ProcSample
from simulator.broker import Mosquitto, free_port


class HubError(RuntimeError):
    pass


def _clean_environment() -> dict[str, str]:
    """The caller's environment without its CHUONG_* settings: the run must not depend on them."""
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("CHUONG_")}


def write_registry(
    path: Path, sites: Iterable[tuple[str, str]], buttons: Iterable[tuple[str, str]]
) -> Path:
    """A registry file (`chuong registry import`) of (site id, name) and (button id, site id)."""
    lines: list[str] = []
    for site_id, name in sites:
        lines += ["[[sites]]", f'id = "{site_id}"', f'name = "{name}"', ""]
    for button_id, site_id in buttons:
        lines += ["[[buttons]]", f'id = "{button_id}"', f'site = "{site_id}"', ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def store_env(db: Path, url: str | None) -> dict[str, str]:
    """The hub's store: the SQLite file `db`, or PostgreSQL at `url`."""
    return {"CHUONG_STORE__PATH": str(db), **({"CHUONG_STORE__URL": url} if url else {})}


def read_store(location: Path | str) -> sqlite3.Connection:
    """A connection that reads the store under test: the SQLite file read-only, or PostgreSQL
    (`hub.store.pg.PgSyncConnection`, which speaks sqlite3's interface)."""
    if isinstance(location, Path):
        return sqlite3.connect(f"file:{location}?mode=ro", uri=True)
    return open_sync_at(location)


def import_registry(db: Path, registry: Path, url: str | None = None) -> None:
    """`chuong registry import` into the store at `db` or `url` (creating and migrating it if
    new)."""
    env = {**_clean_environment(), **store_env(db, url)}
    result = subprocess.run(  # noqa: S603  # this interpreter running the project's own command
        [sys.executable, "-m", "hub", "registry", "import", str(registry)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise HubError(f"registry import failed: {result.stderr.strip()}")


class HubUnderTest:
    def __init__(
        self,
        workdir: Path,
        broker: Mosquitto,
        *,
        hub_id: str,
        db: Path,
        root: str,
        env: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> None:
        self.hub_id = hub_id
        self.db = db
        self.store: Path | str = url or db
        """where its store is: the SQLite file, or the PostgreSQL URL"""
        self.http_port = free_port()
        self.log_path = workdir / f"hub-{hub_id}.log"
        self.env = {
            **_clean_environment(),
            "CHUONG_HUB__ID": hub_id,
            "CHUONG_MQTT__HOST": broker.host,
            "CHUONG_MQTT__PORT": str(broker.port),
            "CHUONG_MQTT__ROOT": root,
            **store_env(db, url),
            "CHUONG_HTTP__HOST": "127.0.0.1",
            "CHUONG_HTTP__PORT": str(self.http_port),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise HubError("the hub is not running")
        return self.process.pid

    def start(self) -> HubUnderTest:
        self._log = self.log_path.open("ab")
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(  # this interpreter, the project's command
            [sys.executable, "-m", "hub", "run"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 60.0, interval: float = 0.01) -> float:
        """Poll `/readyz` until it answers 200; return the seconds since `start`."""
        url = f"http://127.0.0.1:{self.http_port}/readyz"
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise HubError(f"the hub exited while starting:\n{self.log_tail()}")
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(url, timeout=1) as response,
            ):
                if response.status == 200:
                    return time.monotonic() - self.started_at
            time.sleep(interval)
        raise HubError(f"the hub was not ready within {timeout}s:\n{self.log_tail()}")

    def metrics_text(self) -> str:
        """The hub's `/metrics` page."""
        url = f"http://127.0.0.1:{self.http_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def metrics(self) -> dict[str, float]:
        """The hub's Prometheus metrics without labels (`/metrics`), by name."""
        text = self.metrics_text()
        found: dict[str, float] = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if line.startswith("#") or "{" in name or not value:
                continue
            found[name] = float(value)
        return found

    def sample(self) -> ProcSample:
        return ProcSample.read(self.pid)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM: the hub drains and stops cleanly. Returns its exit status."""
        process = self.process
        if process is None:
            return 0
        try:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            return process.returncode
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
