"""A private PostgreSQL server for the tests: `initdb` and `pg_ctl` from Debian's `postgresql`
package (installed by `make test`), in a temporary directory, on a free port.

PostgreSQL refuses to run as root: under root the cluster belongs to the unprivileged user
`nobody` and its commands run through `runuser`. `CHUONG_TEST_PG_URL` (an existing server whose
user may create databases) replaces the private cluster.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Final

import psycopg

from simulator.broker import free_port

ENV_URL: Final = "CHUONG_TEST_PG_URL"
_COUNTER = itertools.count(1)


def pg_bin_dir() -> Path:
    """The newest `/usr/lib/postgresql/<version>/bin` that has initdb (else initdb on the PATH)."""
    versions = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    numbered = [v for v in versions if v.parent.name.isdigit()]
    if numbered:
        return max(numbered, key=lambda v: int(v.parent.name))
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError(
            "PostgreSQL's initdb was not found: install Debian's postgresql package "
            "(make test does), or set CHUONG_TEST_PG_URL to an existing server"
        )
    return Path(initdb).resolve().parent


class PgCluster:
    """A running cluster; `database()` makes a fresh, empty database and returns its URL."""

    def __init__(self) -> None:
        self.base_url = ""
        self._dir: Path | None = None
        self._user: str | None = None
        self._bin: Path | None = None
        self._options = ""

    def _run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        command = list(args)
        if self._user is not None:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            command = [runuser, "-u", self._user, "--", *command]
        # The commands are this module's own: PostgreSQL's tools with the cluster's paths.
        return subprocess.run(  # noqa: S603
            command, check=True, capture_output=True, timeout=120, **kwargs
        )

    def start(self) -> PgCluster:
        external = os.environ.get(ENV_URL)
        if external:
            self.base_url = external
            return self
        self._bin = pg_bin_dir()
        self._dir = Path(tempfile.mkdtemp(prefix="chuong-pg-"))
        if os.geteuid() == 0:
            self._user = "nobody"
            shutil.chown(self._dir, self._user)
        data = self._dir / "data"
        port = free_port()
        try:
            self._run(
                str(self._bin / "initdb"),
                "-D",
                str(data),
                "-U",
                "chuong",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
            self._options = (
                f"-p {port} -k {self._dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c max_connections=200"
            )
            self.start_server()
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}\n{self.log()}"
            ) from exc
        self.base_url = f"postgresql://chuong@127.0.0.1:{port}/postgres"
        return self

    @property
    def owned(self) -> bool:
        """The cluster is this object's (not CHUONG_TEST_PG_URL's server): it may be stopped."""
        return self._dir is not None

    def start_server(self) -> None:
        """Start the server (again, after `stop_server`), on the same port and data."""
        assert self._dir is not None
        assert self._bin is not None
        # fsync off: the tests kill the hub or stop this server cleanly, never cut its machine's
        # power; the cluster is thrown away afterwards. Sockets in the cluster's own directory,
        # TCP on loopback.
        self._run(
            str(self._bin / "pg_ctl"),
            "-D",
            str(self._dir / "data"),
            "-l",
            str(self._dir / "server.log"),
            "-o",
            self._options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every connection (a restart, a failover); `immediate`
        is a crash (recovery at the next start)."""
        assert self._dir is not None
        assert self._bin is not None
        data = str(self._dir / "data")
        self._run(str(self._bin / "pg_ctl"), "-D", data, "-m", mode, "-w", "stop")

    def log(self) -> str:
        if self._dir is None:
            return ""
        with contextlib.suppress(OSError):
            return (self._dir / "server.log").read_text(errors="replace")
        return ""

    def database(self) -> str:
        """A new empty database (C collation: text order is byte order, as in SQLite)."""
        name = f"chuong_test_{os.getpid()}_{next(_COUNTER)}"
        with psycopg.connect(self.base_url, autocommit=True) as conn:
            conn.execute(
                f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING UTF8 '
                "LC_COLLATE 'C' LC_CTYPE 'C'"
            )
        head, _, _ = self.base_url.rpartition("/")
        return f"{head}/{name}"

    def stop(self) -> None:
        if self._dir is None or self._bin is None:
            return
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            data = str(self._dir / "data")
            self._run(str(self._bin / "pg_ctl"), "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
