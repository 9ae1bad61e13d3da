"""Start, stop and crash: a clean stop drains and says goodbye; a crash leaves the last will."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import time
from collections.abc import Callable

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hub.api.tokens import create_token
from hub.clock import SystemClock
from hub.domain.model import Role
from hub.store.db import open_sync_at
from simulator.broker import Mosquitto
from simulator.load import LoadPublisher
from tests.conftest import HubProcess, query_store, stalled_store, wait_for

STATUS_TOPIC = "chuong/v1/hub/post/status"


async def _retained(broker: Mosquitto, topic: str) -> dict[str, object] | None:
    seen: list[bytes] = []
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: seen.append(bytes(m.payload))
    client.connect(broker.host, broker.port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    try:
        await asyncio.sleep(0.3)
    finally:
        client.loop_stop()
        client.disconnect()
    return json.loads(seen[0]) if seen and seen[0] else None


async def test_status_is_online_while_running(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """A running hub's retained status says online, with its version."""
    hub = hub_process().start()
    await hub.wait_ready()
    status = await _retained(broker, STATUS_TOPIC)
    assert status is not None
    assert status["online"] is True
    assert status["version"]


async def test_sigterm_during_a_burst_drains_says_goodbye_and_loses_nothing(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """SIGTERM in the middle of a burst: the hub exits 0 within a few seconds, publishes the
    retained `offline` status with reason `stopped` (not the crash will), and after a restart
    every press the broker acknowledged is recorded exactly once."""
    hub = hub_process().start()
    await hub.wait_ready()
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    for n in range(1500):
        publisher.press(f"term-{n:04d}")
        if n == 700:
            await asyncio.sleep(0)
            started = time.monotonic()
            code = await asyncio.get_running_loop().run_in_executor(None, hub.terminate)
            assert code == 0, hub.log()
            assert time.monotonic() - started < 10
    assert await publisher.drain(20)
    await publisher.close()
    status = await _retained(broker, STATUS_TOPIC)
    assert status is not None
    assert status["online"] is False
    assert status["reason"] == "stopped"
    assert "drained" in hub.log()

    hub = hub_process().start()
    await hub.wait_ready()
    acknowledged = {(s.button, s.event_id) for s in publisher.acknowledged}

    def stored() -> list[tuple[str, str]]:
        return [tuple(r) for r in query_store(hub.store, "SELECT button_id, event_id FROM presses")]

    await wait_for(lambda: len(stored()) >= len(acknowledged), timeout=30)
    assert set(stored()) == acknowledged
    assert len(stored()) == len(acknowledged)


async def test_a_crash_leaves_the_last_will(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """kill -9: the broker publishes the hub's last will, `offline` with reason `lost`, so anyone
    watching can tell a crash from a clean stop."""
    hub = hub_process().start()
    await hub.wait_ready()
    hub.kill()

    async def will() -> bool:
        status = await _retained(broker, STATUS_TOPIC)
        return status is not None and status.get("reason") == "lost"

    await wait_for(will, timeout=10)


async def test_second_signal_forces_the_exit(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """A second SIGINT while a clean stop is stuck (the store is locked by another connection, so
    the drain cannot commit) forces the exit at once, with status 1; the press that was waiting is
    not lost: it was never acknowledged, and the next hub records it."""
    hub = hub_process().start()
    await hub.wait_ready()
    assert hub.process is not None
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    with stalled_store(hub.store):
        publisher.press("stuck-1")
        assert await publisher.drain(10)
        await asyncio.sleep(0.3)
        hub.process.send_signal(signal.SIGINT)
        await asyncio.sleep(0.5)
        assert hub.process.poll() is None, "the clean stop should be waiting for the store"
        hub.process.send_signal(signal.SIGINT)
        code = await asyncio.get_running_loop().run_in_executor(None, hub.process.wait, 10)
    await publisher.close()
    assert code == 1
    assert "forcing exit" in hub.log()
    hub = hub_process().start()
    await hub.wait_ready()

    def stored() -> int:
        [[count]] = query_store(hub.store, "SELECT count(*) FROM presses")
        return int(count)

    await wait_for(lambda: stored() == 1, timeout=20)


async def test_sigint_with_a_live_stream_open_stops_quietly(
    hub_process: Callable[..., HubProcess],
) -> None:
    """Ctrl+C while a page holds the live stream open: the stream ends, the hub exits 0, and the
    log has no ERROR and no traceback (a stop with open pages is normal)."""
    hub = hub_process()
    with contextlib.closing(open_sync_at(hub.store)) as conn:
        token = create_token(conn, "page", Role.VIEWER, SystemClock().now())
    hub.start()
    await hub.wait_ready()
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=hub.url, headers=headers, timeout=30) as client,
        client.stream("GET", "/api/v1/stream") as response,
    ):
        assert response.status_code == 200
        lines = response.aiter_lines()
        while "hello" not in await anext(lines):
            pass
        assert hub.process is not None
        hub.process.send_signal(signal.SIGINT)
        async for _ in lines:  # the hub ends the stream
            pass
    assert await asyncio.to_thread(hub.process.wait, 30) == 0
    log = hub.log()
    assert "hub: drained" in log
    assert " ERROR " not in log, log
    assert "Traceback" not in log, log


async def test_a_taken_http_port_says_how_to_choose_another(
    hub_process: Callable[..., HubProcess],
) -> None:
    """`chuong run` with the page's port in use exits 1 naming the port and how to set another."""
    hub = hub_process()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", hub.http_port))
        taken.listen()
        hub.start()
        assert hub.process is not None
        assert await asyncio.to_thread(hub.process.wait, 30) == 1
    log = hub.log()
    assert f"cannot listen on 127.0.0.1:{hub.http_port}" in log
    assert "CHUONG_HTTP__PORT" in log
