"""The broker restarts: nothing queued is lost, the hub reconnects by itself, `/readyz` tells the
truth meanwhile, and a broker that forgot the hub's session is reported as a trouble."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from hub.config import MqttSection
from simulator.broker import Mosquitto
from simulator.load import LoadPublisher
from tests.conftest import HubProcess, RunningHub, query_store, wait_for

StartHub = Callable[..., Awaitable[RunningHub]]


def _press_count(store: Path | str) -> int:
    [[count]] = query_store(store, "SELECT count(*) FROM presses")
    return int(count)


async def _ready(url: str) -> int:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return (await client.get(f"{url}/readyz")).status_code
    except httpx.HTTPError:
        return 0


async def test_presses_queued_for_the_hub_survive_a_broker_restart(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """The hub is down; 300 presses queue in its persistent session; the broker restarts (with
    persistence); the hub starts and records all 300."""
    hub = hub_process().start()
    await hub.wait_ready()
    assert hub.terminate() == 0  # the session now exists and outlives the hub
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    for n in range(300):
        publisher.press(f"queued-{n:03d}")
    assert await publisher.drain(20)
    await publisher.close()
    broker.stop()
    broker.start()
    hub = hub_process().start()
    await hub.wait_ready()
    await wait_for(lambda: _press_count(hub.store) == 300, timeout=30)


async def test_the_hub_reconnects_by_itself_and_readyz_tells_the_truth(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """While the broker is down `/readyz` answers 503 naming the broker; when it returns the hub
    reconnects on its own, `/readyz` is 200 again, and presses flow."""
    hub = hub_process().start()
    await hub.wait_ready()
    broker.stop()

    async def not_ready() -> bool:
        return await _ready(hub.url) == 503

    await wait_for(not_ready, timeout=15)
    async with httpx.AsyncClient(timeout=2) as client:
        body = (await client.get(f"{hub.url}/readyz")).json()
    assert body["status"] == "not ready"
    assert any(reason.startswith("broker:") for reason in body["reasons"])
    broker.start()
    await hub.wait_ready(30)
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    publisher.press("after-restart")
    assert await publisher.drain(10)
    await publisher.close()
    await wait_for(lambda: _press_count(hub.store) == 1, timeout=15)


async def test_a_burst_across_a_broker_restart_loses_nothing(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """Presses acknowledged by the broker before and after a clean broker restart in the middle of
    traffic are all recorded exactly once."""
    hub = hub_process().start()
    await hub.wait_ready()
    acknowledged: set[tuple[str, str]] = set()
    for phase in ("before", "after"):
        publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
        await publisher.connect()
        for n in range(500):
            publisher.press(f"{phase}-{n:03d}")
        assert await publisher.drain(20)
        acknowledged |= {(s.button, s.event_id) for s in publisher.acknowledged}
        await publisher.close()
        if phase == "before":
            broker.stop()
            broker.start()
    await hub.wait_ready(30)
    await wait_for(lambda: _press_count(hub.store) >= len(acknowledged), timeout=30)
    stored = query_store(hub.store, "SELECT button_id, event_id FROM presses")
    assert {tuple(row) for row in stored} == acknowledged
    assert len(stored) == len(acknowledged)


async def test_a_broker_that_forgot_the_session_raises_a_trouble(
    start_hub: StartHub, tmp_path: Path
) -> None:
    """A broker restarted WITHOUT persistence has lost the hub's session (and what was queued in
    it): the hub raises `session_lost`; the next connection that finds its session clears it."""
    memoryless = Mosquitto(tmp_path / "memoryless", persistence=False).start()
    try:
        running = await start_hub(
            mqtt=MqttSection(port=memoryless.port, reconnect_min_s=0.1, reconnect_max_s=0.5)
        )
        api = running.api()
        assert (
            await api.get("/api/v1/troubles")
        ).json() == []  # the first session is new by nature
        memoryless.stop()
        memoryless.start()

        async def lost() -> bool:
            troubles = (await api.get("/api/v1/troubles")).json()
            return any(t["kind"] == "session_lost" for t in troubles)

        await wait_for(lost, timeout=20)

        async def cleared() -> bool:
            troubles = (await api.get("/api/v1/troubles")).json()
            return not any(t["kind"] == "session_lost" for t in troubles)

        # Restart the hub, not the broker: this time the broker kept the session.
        await running.hub.stop()
        running2 = await start_hub(
            mqtt=MqttSection(port=memoryless.port, reconnect_min_s=0.1, reconnect_max_s=0.5)
        )
        api = running2.api()
        await wait_for(cleared, timeout=20)
        history = (await api.get("/api/v1/troubles", params={"state": "all"})).json()
        assert [(t["kind"], t["state"]) for t in history] == [("session_lost", "cleared")]
    finally:
        memoryless.kill()
