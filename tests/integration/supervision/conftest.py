"""Fixtures for the supervision and vendor tests: a hub supervising fast (ticks of 0.1 s), a
registry with buttons of every kind, a raw MQTT publisher, and helpers to read troubles."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub import cli
from hub.clock import SystemClock
from hub.config import MqttSection, ProfilesSection, StoreSection, SupervisionSection
from hub.domain.model import DeviceState
from hub.registry.credentials import read_passwords
from hub.registry.file import ButtonEntry, RegistryFile, SiteEntry, import_registry
from hub.store.db import open_sync_at
from simulator.broker import Mosquitto
from tests.conftest import RunningHub, query_store, store_location, wait_for
from tests.integration.supervision.shipped import ShippedMosquitto

StartHub = Callable[..., Awaitable[RunningHub]]

REGISTRY = RegistryFile(
    sites=[
        SiteEntry(id="bank", name="Ngân hàng Phước Hòa", phone="0272 3812 345"),
        SiteEntry(id="pharmacy", name="Nhà thuốc An"),
    ],
    buttons=[
        ButtonEntry(id="bank-1", site="bank", label="Quầy 1"),
        ButtonEntry(id="bank-2", site="bank", label="Quầy 2"),
        ButtonEntry(id="bank-bat", site="bank", power="battery", checkin_s=2),
        ButtonEntry(
            id="quay-shelly",
            site="pharmacy",
            profile="shelly-gen1",
            native_id="shellybutton1-A4CF12",
        ),
        ButtonEntry(
            id="quay-plus", site="pharmacy", profile="shelly-gen2", native_id="shellyplusi4-a80321"
        ),
        ButtonEntry(
            id="quay-tasmota", site="pharmacy", profile="tasmota", native_id="tasmota_49A3BC"
        ),
        ButtonEntry(id="quay-zigbee", site="pharmacy", profile="zigbee2mqtt", native_id="sos-quay"),
        ButtonEntry(id="quay-esphome", site="pharmacy", profile="esphome", native_id="quay-thuoc"),
    ],
)

FAST = {"tick_s": 0.1, "flap_grace_s": 1.0, "offline_after_s": 3600.0}
"""Reviews ten times a second; an `offline` must last 1 s; silence is no issue unless a test
says so (the contract's buttons in these tests send no heartbeats of their own)."""


@pytest.fixture
async def supervised(start_hub: StartHub) -> Callable[..., Awaitable[RunningHub]]:
    """Start a hub on the test's broker with REGISTRY and fast supervision (overridable)."""

    async def start(
        registry: RegistryFile | None = REGISTRY, listen: tuple[str, ...] = (), **supervision: Any
    ) -> RunningHub:
        return await start_hub(
            registry,
            supervision=SupervisionSection(**{**FAST, **supervision}),
            profiles=ProfilesSection(listen=list(listen)),
        )

    return start


async def open_troubles(running: RunningHub) -> dict[tuple[str, str], dict[str, Any]]:
    response = await running.api().get("/api/v1/troubles")
    response.raise_for_status()
    return {(t["kind"], t["subject"]): t for t in response.json() if t["id"]}


async def trouble(
    running: RunningHub, kind: str, subject: str, timeout: float = 15
) -> dict[str, Any]:
    """Wait for an open trouble and return it."""
    found: dict[str, Any] = {}

    async def raised() -> bool:
        found.update((await open_troubles(running)).get((kind, subject), {}))
        return bool(found)

    raised.__name__ = f"{kind} trouble about {subject} open"
    await wait_for(raised, timeout)
    return found


async def no_trouble(running: RunningHub, kind: str, subject: str, timeout: float = 15) -> None:
    async def cleared() -> bool:
        return (kind, subject) not in await open_troubles(running)

    cleared.__name__ = f"{kind} trouble about {subject} cleared"
    await wait_for(cleared, timeout)


async def device(running: RunningHub, button_id: str) -> dict[str, Any]:
    response = await running.api().get(f"/api/v1/devices/{button_id}")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def until(
    running: RunningHub,
    button_id: str,
    check: Callable[[DeviceState], bool],
    timeout: float = 10,
) -> None:
    """Wait until what the hub has committed about the button passes `check`."""

    def passes() -> bool:
        assert running.hub.pipeline is not None
        found = running.hub.pipeline.state.devices.get(button_id)
        return found is not None and check(found)

    passes.__name__ = f"state of {button_id}"
    await wait_for(passes, timeout)


async def heard(running: RunningHub, button_id: str, timeout: float = 10) -> None:
    """Wait until the hub has committed that the button is online."""
    await until(running, button_id, lambda d: d.online is True, timeout)


async def ticks(running: RunningHub, count: int = 3, timeout: float = 15) -> None:
    """Wait until the supervisor has completed `count` more reviews."""
    supervisor = running.hub.supervisor
    assert supervisor is not None
    target = supervisor.ticks + count
    await wait_for(lambda: supervisor.ticks >= target, timeout)


def audit(running: RunningHub, action: str, button: str | None = None) -> list[Any]:
    """The audit entries of one action (about one button), oldest first, from the hub's store
    (a SQLite file or a PostgreSQL database): rows read by column name."""
    rows = query_store(
        store_location(running.config), "SELECT * FROM audit WHERE action = ? ORDER BY id", action
    )
    return [row for row in rows if button is None or row["button_id"] == button]


def stored(running: RunningHub, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Every row of one query on the hub's store, whichever kind it is, as plain tuples (what
    the hub committed, compared as values)."""
    return [tuple(row) for row in query_store(store_location(running.config), sql, *params)]


def command_line_on(monkeypatch: pytest.MonkeyPatch, store: StoreSection) -> None:
    """Point `chuong …` commands run in this test at `store`: the SQLite file, or the PostgreSQL
    database (a URL set in the environment wins over the path)."""
    monkeypatch.setenv("CHUONG_STORE__PATH", str(store.path))
    if store.url:
        monkeypatch.setenv("CHUONG_STORE__URL", store.url)
    else:
        monkeypatch.delenv("CHUONG_STORE__URL", raising=False)


class RawClient:
    """A plain MQTT v5 client: publishes anything and records each PUBACK's reason code."""

    def __init__(
        self,
        broker: Mosquitto,
        username: str | None = None,
        password: str | None = None,
        client_id: str = "",
    ):
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        self._done: dict[int, int] = {}
        self._lock = threading.Lock()
        self._client.on_publish = self._on_publish
        self._connected = threading.Event()
        self.connect_reason: int | None = None
        self._client.on_connect = self._on_connect
        self._client.on_message = lambda c, u, m: self.received.append((m.topic, bytes(m.payload)))
        self._broker = broker
        self.received: list[tuple[str, bytes]] = []

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connect_reason = reason.value
        self._connected.set()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            self._done[mid] = reason.value

    async def connect(self) -> int:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._client.connect, self._broker.host, self._broker.port)
        self._client.loop_start()
        assert await loop.run_in_executor(None, self._connected.wait, 10)
        assert self.connect_reason is not None
        return self.connect_reason

    async def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> int:
        """Publish at QoS 1; return the PUBACK reason code: below 0x80 accepted (0 success, 0x10
        no subscribers), 0x87 not authorized."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        await wait_for(lambda: info.mid in self._done, 10)
        with self._lock:
            return self._done[info.mid]

    async def subscribe(self, topic: str) -> None:
        """Subscribe at QoS 1 (Mosquitto grants a subscription its ACL denies, and then delivers
        nothing on it): what arrives is in `received`."""
        done = threading.Event()
        self._client.on_subscribe = lambda *args: done.set()
        self._client.subscribe(topic, qos=1)
        assert await asyncio.get_running_loop().run_in_executor(None, done.wait, 10)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
async def raw(broker: Mosquitto) -> AsyncIterator[Callable[..., Awaitable[RawClient]]]:
    made: list[RawClient] = []

    async def connect(
        username: str | None = None,
        password: str | None = None,
        to: Mosquitto | None = None,
        client_id: str = "",
    ) -> RawClient:
        client = RawClient(to or broker, username, password, client_id)
        made.append(client)
        await client.connect()
        return client

    yield connect
    for client in made:
        client.close()


def registry_store(
    monkeypatch: pytest.MonkeyPatch, path: Path, store_url: str | None
) -> StoreSection:
    """REGISTRY imported into a store (the SQLite file `path`, or the PostgreSQL database
    `store_url`), and `chuong …` commands of the test pointed at it, as the hub-post user."""
    store = StoreSection(path=path, url=store_url)
    with contextlib.closing(open_sync_at(store.url or store.path)) as conn:
        import_registry(conn, REGISTRY, SystemClock().now())
    command_line_on(monkeypatch, store)
    monkeypatch.setenv("CHUONG_MQTT__USERNAME", "hub-post")
    return store


@pytest.fixture
def credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str | None
) -> tuple[Path, dict[str, str]]:
    """The registry in the test's store (the one its hub uses), then `chuong registry
    credentials --dir …` run on it."""
    directory = tmp_path / "creds"
    with monkeypatch.context() as env:  # only for the command: the hub gets its own config
        registry_store(env, tmp_path / "hub.db", store_url)
        assert cli.main(["registry", "credentials", "--dir", str(directory)]) == 0
    return directory, read_passwords(directory)


@pytest.fixture
def shipped_secured(
    tmp_path: Path, credentials: tuple[Path, dict[str, str]]
) -> Iterator[Mosquitto]:
    """The shipped mosquitto.conf with the generated passwd and acl."""
    directory, _ = credentials
    broker = ShippedMosquitto(
        tmp_path / "shipped", passwd=directory / "passwd", acl=directory / "acl"
    ).start()
    yield broker
    broker.kill()


def as_user(
    broker: Mosquitto, username: str, password: str, telemetry_password: str | None = None
) -> dict[str, Any]:
    """`start_hub` keywords for a hub logged in to `broker` as `username` (and, with
    `telemetry_password`, its telemetry connection as `<username>-telemetry`), reconnecting
    fast and not supervising silence."""
    mqtt = MqttSection(
        port=broker.port,
        username=username,
        password=password,
        telemetry_password=telemetry_password,
        reconnect_min_s=0.1,
        reconnect_max_s=1.0,
    )
    return {"mqtt": mqtt, "supervision": SupervisionSection(offline_after_s=3600)}
