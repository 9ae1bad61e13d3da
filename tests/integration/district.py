"""Posts and a district as real processes, each hub with its own Mosquitto (docs/DISTRICT.md):
the helpers of tests/integration/test_district.py and tests/faults/test_district_link.py."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hub.api.tokens import create_token
from hub.clock import SystemClock
from hub.domain.model import Role
from hub.registry.file import ButtonEntry, RegistryFile, SiteEntry, import_registry
from hub.store.db import open_sync_at
from simulator.broker import Mosquitto
from simulator.button import VirtualButton
from tests.conftest import HubProcess, query_store

HEARTBEAT_S = 1.0
GRACE_S = 2.0
LOST_AFTER_S = 2.0


@dataclass
class Node:
    """One hub process with its own broker."""

    name: str
    broker: Mosquitto
    hub: HubProcess
    token: str
    buttons: list[VirtualButton] = field(default_factory=list)

    def api(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.hub.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )

    async def button(self, button_id: str) -> VirtualButton:
        button = VirtualButton(
            button_id, host=self.broker.host, port=self.broker.port, session_expiry_s=3600
        )
        await button.connect()
        self.buttons.append(button)
        return button

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in query_store(self.hub.store, sql, *params)]

    def restart(self) -> None:
        self.hub.terminate()
        self.hub.close()
        self.hub.start()


def lose_store(node: Node, new_url: str | None) -> None:
    """The stopped node's store is gone (a new disk, a re-install): its SQLite file is deleted,
    or (`new_url`) the hub is pointed at a new, empty PostgreSQL database."""
    if new_url is None:
        for path in node.hub.db.parent.glob(node.hub.db.name + "*"):
            path.unlink()
        return
    node.hub.store = new_url
    node.hub.env["CHUONG_STORE__URL"] = new_url


def registry(site: str, site_name: str, buttons: int) -> RegistryFile:
    return RegistryFile(
        sites=[SiteEntry(id=site, name=site_name, address="1 Quốc lộ 1A", phone="0272 381 000")],
        buttons=[ButtonEntry(id=f"{site}-{n}", site=site) for n in range(1, buttons + 1)],
    )


def make_node(
    tmp_path: Path,
    name: str,
    env: dict[str, str],
    reg: RegistryFile | None = None,
    store_url: str | None = None,
) -> Node:
    """A hub with its own broker and its own store: a SQLite file in its own directory, or the
    PostgreSQL database `store_url` (each node needs one of its own: fixture `fresh_store`)."""
    workdir = tmp_path / name
    workdir.mkdir()
    broker = Mosquitto(workdir / "mosquitto").start()
    hub = HubProcess(workdir, broker, {"CHUONG_HUB__ID": name, **env}, store_url=store_url)
    token = seed_node(hub, reg)
    return Node(name, broker, hub, token)


def seed_node(hub: HubProcess, reg: RegistryFile | None) -> str:
    """Import the registry into the hub's store and create an admin token: returns the token."""
    now = SystemClock().now()
    with contextlib.closing(open_sync_at(hub.store)) as conn:
        if reg is not None:
            import_registry(conn, reg, now)
        return create_token(conn, "test", Role.ADMIN, now)


def post_env(district: Node, post_name: str, **extra: str) -> dict[str, str]:
    return {
        "CHUONG_HUB__NAME": post_name,
        "CHUONG_UPSTREAM__HOST": district.broker.host,
        "CHUONG_UPSTREAM__PORT": str(district.broker.port),
        "CHUONG_UPSTREAM__TLS": "false",
        "CHUONG_UPSTREAM__HEARTBEAT_S": str(HEARTBEAT_S),
        "CHUONG_UPSTREAM__RESEND_S": "2",
        "CHUONG_UPSTREAM__RECONNECT_MIN_S": "0.1",
        "CHUONG_UPSTREAM__RECONNECT_MAX_S": "1",
        "CHUONG_UPSTREAM__LOST_AFTER_S": str(LOST_AFTER_S),
        **extra,
    }


DISTRICT_ENV = {
    "CHUONG_HUB__MODE": "district",
    "CHUONG_HUB__NAME": "Công an huyện Châu Thành",
    "CHUONG_DISTRICT__GRACE_S": str(GRACE_S),
}


@contextlib.contextmanager
def closing_nodes(nodes: list[Node]) -> Iterator[list[Node]]:
    try:
        yield nodes
    finally:
        for node in nodes:
            node.hub.close()
            node.broker.kill()


def changes_sent(post: Node) -> list[tuple[str, int, str]]:
    """Every change the post queued for the district: (alarm, change_seq, change)."""
    return [
        (r[0], r[1], r[2])
        for r in post.rows("SELECT alarm_id, change_seq, change FROM upstream ORDER BY seq")
    ]


def changes_received(district: Node, post: str) -> list[tuple[str, int, str]]:
    return [
        (r[0], r[1], r[2])
        for r in district.rows(
            "SELECT alarm_id, change_seq, change FROM post_changes WHERE post_id = ? "
            "ORDER BY received_at, alarm_id, change_seq",
            post,
        )
    ]


async def open_troubles(node: Node, kind: str) -> list[str]:
    """The subjects of the node's open troubles of this kind (through its API)."""
    async with node.api() as api:
        response = await api.get("/api/v1/troubles")
        response.raise_for_status()
        return [t["subject"] for t in response.json() if t["kind"] == kind]
