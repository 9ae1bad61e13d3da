"""Shared fixtures: a real Mosquitto on a free port, hubs in-process or as real subprocesses,
API clients with tokens of each role, and virtual buttons with real MQTT connections."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import httpx
import psycopg
import psycopg.sql
import pytest
from fastapi import FastAPI
from fastapi.routing import RouteContext, iter_route_contexts
from hypothesis import HealthCheck, settings

from hub.api.tokens import create_token
from hub.app import Hub
from hub.clock import SystemClock
from hub.config import Config, HttpSection, HubSection, MqttSection, StoreSection
from hub.domain.model import Role
from hub.notify.links import SECRET_META_KEY, sign
from hub.registry.file import ButtonEntry, RegistryFile, SiteEntry, import_registry
from hub.store.db import open_sync_at
from simulator.broker import Mosquitto, free_port
from simulator.button import VirtualButton
from simulator.pgcluster import PgCluster

ROOT = "chuong/v1"

# Tests never assert on wall-clock speed: hypothesis's time-based checks would fail on a loaded
# 2-core CI machine without saying anything about the code.
settings.register_profile(
    "chuong",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("chuong")

SAMPLE_REGISTRY = RegistryFile(
    sites=[
        SiteEntry(
            id="bank", name="Ngân hàng Phước Hòa", address="12 Quốc lộ 1A", phone="0272 3812 345"
        ),
        SiteEntry(id="clinic", name="Trạm y tế", address="45 Nguyễn Trãi", phone="0272 3811 115"),
    ],
    buttons=[
        ButtonEntry(id="bank-1", site="bank", label="Quầy 1"),
        ButtonEntry(id="bank-2", site="bank", label="Quầy 2"),
        ButtonEntry(id="clinic-1", site="clinic"),
    ],
)


async def wait_for(
    predicate: Callable[[], Awaitable[bool]] | Callable[[], bool],
    timeout: float = 10.0,
    interval: float = 0.02,
) -> None:
    """Poll until `predicate` is true; fail the test with a clear message after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"condition not met within {timeout}s: {getattr(predicate, '__name__', predicate)}"
            )
        await asyncio.sleep(interval)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One private PostgreSQL server for the session (or CHUONG_TEST_PG_URL's)."""
    cluster = PgCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_database(pg_cluster: PgCluster) -> str:
    """The URL of a fresh, empty PostgreSQL database."""
    return pg_cluster.database()


INTEGRATION = Path(__file__).parent / "integration"


def runs_on_both_stores(definition: pytest.Function) -> bool:
    """Every test of the integration suite whose hub has a store runs on SQLite and on PostgreSQL,
    but one marked `sqlite_only` (it is about the SQLite file itself, or the installed post,
    which ships SQLite) or `postgresql_only` (it brings its own server: its own `store_url`);
    elsewhere, a test marked `both_stores` (or in a module so marked)."""
    if definition.get_closest_marker("sqlite_only") or definition.get_closest_marker(
        "postgresql_only"
    ):
        return False
    if definition.get_closest_marker("both_stores"):
        return True
    return INTEGRATION in Path(str(definition.path)).parents


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`store_url` is parametrized where the test runs on both stores (`runs_on_both_stores`)."""
    if "store_url" in metafunc.fixturenames and runs_on_both_stores(metafunc.definition):
        metafunc.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)


def is_sqlite(path: Path) -> bool:
    """Whether the file is a SQLite database (its header; Mosquitto's own `.db` is not one)."""
    if not path.is_file():
        return False
    with path.open("rb") as file:
        return file.read(16) == b"SQLite format 3\x00"


@pytest.fixture
def store_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Where the test's hub keeps its store: None for SQLite (the default), or the URL of a fresh
    PostgreSQL database for the `postgresql` run of a test that runs on both stores.

    The `postgresql` run fails if a SQLite store turned up in the test's directory: its hub (or
    command) was not given the URL, and the run tested SQLite a second time."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield None
        return
    url: str = request.getfixturevalue("pg_database")
    tmp_path: Path = request.getfixturevalue("tmp_path")
    yield url
    if stray := sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if is_sqlite(p)):
        pytest.fail(
            f"the PostgreSQL run made SQLite stores {stray}: pass `store_url` on to every hub "
            "and command of the test (CHUONG_STORE__URL, StoreSection(url=...))"
        )


@pytest.fixture
def fresh_store(store_url: str | None, request: pytest.FixtureRequest) -> Callable[[], str | None]:
    """Another empty store of the test's kind, for a test whose hubs each have their own (the
    district's posts): None for SQLite (each hub's file in its own directory), or the URL of a
    fresh PostgreSQL database."""

    def make() -> str | None:
        if store_url is None:
            return None
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        return cluster.database()

    return make


def store_location(config: Config) -> Path | str:
    return config.store.url or config.store.path


def query_store(location: Path | str, sql: str, *params: Any) -> list[Any]:
    """Every row of one query (by index or by column name), on a store of either kind; a SQLite
    file is opened read-only."""
    if isinstance(location, Path):
        with contextlib.closing(sqlite3.connect(f"file:{location}?mode=ro", uri=True)) as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute(sql, params).fetchall()
    with contextlib.closing(open_sync_at(location)) as pg_conn:
        return pg_conn.execute(sql, params).fetchall()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real Mosquitto with persistence, on a free port, private to the test."""
    mosquitto = Mosquitto(tmp_path / "mosquitto").start()
    yield mosquitto
    mosquitto.kill()


def make_config(
    tmp_path: Path, broker: Mosquitto, store_url: str | None = None, **sections: Any
) -> Config:
    values: dict[str, Any] = {
        "hub": HubSection(id="post"),
        "mqtt": MqttSection(port=broker.port, reconnect_min_s=0.1, reconnect_max_s=1.0),
        "store": StoreSection(path=tmp_path / "hub.db", url=store_url, probe_interval_s=0.5),
        "http": HttpSection(port=0),
    }
    values.update(sections)
    return Config(**values)


def seed_store(config: Config, registry: RegistryFile | None = SAMPLE_REGISTRY) -> dict[Role, str]:
    """Import the registry and create one token per role; return the tokens."""
    with contextlib.closing(open_sync_at(store_location(config))) as conn:
        if registry is not None:
            import_registry(conn, registry, SystemClock().now())
        return {
            role: create_token(conn, f"test-{role.value}", role, SystemClock().now())
            for role in Role
            if conn.execute(
                "SELECT 1 FROM api_tokens WHERE name = ?", (f"test-{role.value}",)
            ).fetchone()
            is None
        }


def route_contexts(app: FastAPI) -> list[RouteContext]:
    """Every route the app serves, with its full path, however routers are nested. Since FastAPI
    0.137 an included router is one opaque entry of `app.routes`: a plain walk sees none of its
    routes, and a test that walks it checks nothing."""
    return list(iter_route_contexts(app.routes))


@dataclass
class RunningHub:
    hub: Hub
    config: Config
    tokens: dict[Role, str]
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def app(self) -> FastAPI:
        """The FastAPI app the hub serves."""
        assert self.hub.http is not None
        return cast(FastAPI, self.hub.http._app)

    @property
    def url(self) -> str:
        assert self.hub.http is not None
        return f"http://127.0.0.1:{self.hub.http.port}"

    def api(self, role: Role | None = Role.ADMIN) -> httpx.AsyncClient:
        headers = {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}
        client = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)
        self.clients.append(client)
        return client

    async def alarms(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.api().get("/api/v1/alarms", params={"limit": 1000, **params})
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result


LINK_KEY_NOTIFIER: Final = {"type": "webhook", "url": "http://127.0.0.1:9/", "person": "boss"}
"""A notifier no escalation step names: configured, it makes the hub create its phone-link key."""


async def ack_link(running: RunningHub, alarm_id: str, person: str = "boss") -> str:
    """The path of a genuine phone link acknowledging the alarm as `person`, valid for an hour
    (signed with the hub's key: start the hub with a notifier, e.g. LINK_KEY_NOTIFIER)."""

    def key() -> bytes:
        with contextlib.closing(open_sync_at(store_location(running.config))) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (SECRET_META_KEY,))
            return bytes.fromhex(row.fetchone()[0])

    expires = int(time.time()) + 3600
    signature = sign(await asyncio.to_thread(key), alarm_id, person, expires)
    return f"/ack/{alarm_id}/{person}/{expires}/{signature}"


@pytest.fixture
async def start_hub(
    tmp_path: Path, broker: Mosquitto, store_url: str | None
) -> AsyncIterator[Callable[..., Awaitable[RunningHub]]]:
    """Start an in-process hub on the test's broker (call again after stopping to restart it)."""
    running: list[RunningHub] = []
    tokens: dict[Role, str] = {}

    async def start(
        registry: RegistryFile | None = SAMPLE_REGISTRY,
        subscribed_within: float = 10.0,
        **sections: Any,
    ) -> RunningHub:
        if "store" in sections and store_url is not None:
            sections["store"] = sections["store"].model_copy(update={"url": store_url})
        config = make_config(tmp_path, broker, store_url, **sections)
        tokens.update(seed_store(config, registry))
        hub = Hub(config)
        await hub.start()
        assert hub.mqtt is not None
        assert await hub.mqtt.wait_subscribed(subscribed_within), "the hub did not subscribe"
        harness = RunningHub(hub, config, tokens)
        running.append(harness)
        return harness

    yield start
    for harness in running:
        for client in harness.clients:
            await client.aclose()
        await harness.hub.stop()


@pytest.fixture
async def buttons(broker: Mosquitto) -> AsyncIterator[Callable[..., Awaitable[VirtualButton]]]:
    """Connect virtual buttons to the test's broker; all are closed afterwards."""
    made: list[VirtualButton] = []

    async def connect(button_id: str, **kwargs: Any) -> VirtualButton:
        button = VirtualButton(button_id, host=broker.host, port=broker.port, **kwargs)
        await button.connect()
        made.append(button)
        return button

    yield connect
    for button in made:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(button.close(), 5)


async def wait_hub_ready(
    process: subprocess.Popen[bytes], url: str, log: Callable[[], str], timeout: float
) -> None:
    """Until the hub at `url` answers /readyz 200; fail with its log if it exits first."""

    async def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the hub exited with {process.returncode}:\n{log()}")
        try:
            async with httpx.AsyncClient(timeout=1) as client:
                return (await client.get(f"{url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_for(ready, timeout)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether the hub could listen on `port` now (bound as the hub binds: SO_REUSEADDR, so that
    connections of an earlier hub in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class HubProcess:
    """The hub as a real subprocess (`python -m hub run`), for kill -9 and signal tests."""

    def __init__(
        self,
        tmp_path: Path,
        broker: Mosquitto,
        env: dict[str, str] | None = None,
        open_files: tuple[int, int] | None = None,
        store_url: str | None = None,
    ) -> None:
        self.open_files = open_files
        """(soft, hard) limit on the hub's open files, if not inherited"""
        self.http_port = free_port()
        self.db = tmp_path / "hub.db"
        self.store: Path | str = store_url or self.db
        """where the hub's store is: the SQLite file, or the PostgreSQL URL"""
        self.log_path = tmp_path / "hub.log"
        self.env = {
            **os.environ,
            "CHUONG_HUB__ID": "post",
            "CHUONG_MQTT__HOST": broker.host,
            "CHUONG_MQTT__PORT": str(broker.port),
            "CHUONG_MQTT__RECONNECT_MIN_S": "0.1",
            "CHUONG_MQTT__RECONNECT_MAX_S": "1",
            "CHUONG_STORE__PATH": str(self.db),
            "CHUONG_HTTP__PORT": str(self.http_port),
            "CHUONG_LOG__LEVEL": "INFO",
            **({"CHUONG_STORE__URL": store_url} if store_url else {}),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> HubProcess:
        if (
            self.process is not None
            and self.env.get("CHUONG_HTTP__PORT") == str(self.http_port)
            and not port_free(self.http_port)
        ):
            # Started again (`restart`): the port was free when chosen, but it is one of the
            # system's ephemeral ports, and a connection made since (a button's, the store's)
            # may have it as its own end. The hub could not listen: it gets another port. (A
            # first start keeps its port, taken or not: a test may take it on purpose.)
            self.http_port = free_port()
            self.env["CHUONG_HTTP__PORT"] = str(self.http_port)
        self._log = self.log_path.open("ab")
        limits = self.open_files

        def limit() -> None:
            if limits is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, limits)

        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub", "run"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=limit if limits is not None else None,  # noqa: PLW1509 (before exec only)
        )
        return self

    async def wait_ready(self, timeout: float = 20.0) -> None:
        assert self.process is not None
        await wait_hub_ready(self.process, self.url, self.log, timeout)

    def kill(self) -> None:
        """kill -9: no drain, no goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self, timeout: float = 15.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        self.kill()
        if self._log is not None:
            self._log.close()


@pytest.fixture
def hub_process(
    tmp_path: Path, broker: Mosquitto, store_url: str | None
) -> Iterator[Callable[..., HubProcess]]:
    made: list[HubProcess] = []

    def make(
        env: dict[str, str] | None = None, open_files: tuple[int, int] | None = None
    ) -> HubProcess:
        process = HubProcess(tmp_path, broker, env, open_files, store_url)
        made.append(process)
        return process

    yield make
    for process in made:
        process.close()


STALLED_TABLES: Final = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
"""Every table of a PostgreSQL store, to lock against writes (but the lease: `_hold_pg`)."""


def _hold_sqlite(db: Path, held: threading.Event, release: threading.Event, limit_s: float) -> None:
    with contextlib.closing(sqlite3.connect(db, timeout=30, isolation_level=None)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(limit_s)
        conn.execute("ROLLBACK")


def _hold_pg(url: str, held: threading.Event, release: threading.Event, limit_s: float) -> None:
    """Every table locked against writes (EXCLUSIVE: reads go on, as beside SQLite's write lock),
    but `store_lease`, which only the hubs' lock and lease use: a stalled store is not a lost
    lock."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [row[0] for row in conn.execute(STALLED_TABLES) if row[0] != "store_lease"]
        names = psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, tables))
        with conn.transaction():
            conn.execute(psycopg.sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(names))
            held.set()
            release.wait(limit_s)


class stalled_store:  # noqa: N801  (used as a function: `with stalled_store(...)`)
    """Hold the store's write lock from another connection for as long as the block runs (a slow
    or busy disk, a backup; on PostgreSQL, another session's lock on every table): the hub keeps
    receiving presses it cannot commit. The block starts once the lock is held and the lock goes
    when the block ends, however long the block's own checks take on a loaded machine (`limit_s`
    only bounds a test that hangs).

    `with` for a hub in another process; `async with` for a hub in this one: taking the lock may
    wait for the hub's transaction of the moment, which (on PostgreSQL) needs the event loop."""

    def __init__(self, store: Path | str, limit_s: float = 60.0) -> None:
        self._store = store
        self._held = threading.Event()
        self._release = threading.Event()
        hold = _hold_sqlite if isinstance(store, Path) else _hold_pg
        self._thread = threading.Thread(
            target=hold, args=(store, self._held, self._release, limit_s), daemon=True
        )

    def _taken(self, held: bool) -> None:
        if not held:
            self._let_go()
            raise RuntimeError(f"could not take the write lock of {self._store}")

    def _let_go(self) -> None:
        self._release.set()
        self._thread.join(30)

    def __enter__(self) -> None:
        self._thread.start()
        self._taken(self._held.wait(30))

    def __exit__(self, *exc: object) -> None:
        self._let_go()

    async def __aenter__(self) -> None:
        self._thread.start()
        self._taken(await asyncio.to_thread(self._held.wait, 30))

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self._let_go)
