"""Active/standby on one PostgreSQL (docs/HA.md): two hubs with the same `hub.id`, real processes,
a real Mosquitto and a private PostgreSQL server.

- Exactly one hub is active (`/readyz` 200, role active); the other answers 503, role standby,
  refuses writes with 503 and stays off the broker.
- kill -9 of the active during a 100/s burst of presses: the standby is active within 10 s, every
  press the broker acknowledged is recorded exactly once, and an escalation step that falls due
  across the failover fires once. The killed hub is started again (as systemd would) and waits
  as the standby for the next round. FAILOVERS rounds (5; 20 in `make proof`).
- The active frozen (SIGSTOP) past its lease, then resumed (SIGCONT): the standby took over; the
  old hub connects to the broker no more, publishes nothing, and exits 75 to start again as the
  standby; the new active keeps the broker's session throughout.

Presses are plain QoS 1 from a publisher that does not repeat: the guarantee checked is "every
press the broker acknowledged", the strictest one (a button that repeats until `received` only
adds copies, which the hub knows by their event id).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from devices.topics import Topics
from simulator.broker import Mosquitto
from simulator.load import DEFAULT_ROOT, LoadPublisher, Sent
from tests.conftest import HubProcess, query_store, wait_for
from tests.integration.escalation.conftest import MqttWatcher
from tests.integration.notify.loopback import HttpRecorder, http_recorder

__all__ = ["http_recorder"]  # the fixture, used by the tests below

FAILOVERS = int(os.environ.get("PROOF_FAILOVERS", "5"))
RATE = 100
"""presses a second during the burst"""
BURST_S = 2.0
STEP_AFTER_S = 1.5
"""the escalation step of each round's alarm: it falls due just after the kill"""
KILL_AT_S = 1.2
"""the kill, this long after the alarm was raised (the burst runs meanwhile)"""
TAKEOVER_S = 10.0
READY_S = 60.0
"""bound on a hub's start on this busy machine; only a hung hub reaches it"""
HOOK = "/hook"


@pytest.fixture
def store_url(pg_database: str) -> str:
    """Active/standby needs PostgreSQL: every hub of these tests uses it."""
    return pg_database


async def _readyz(hub: HubProcess) -> tuple[int, dict[str, Any]] | None:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            response = await client.get(f"{hub.url}/readyz")
    except httpx.HTTPError:
        return None
    return response.status_code, response.json()


async def _wait_role(hub: HubProcess, role: str, timeout: float = READY_S) -> None:
    assert hub.process is not None
    process = hub.process

    async def has_role() -> bool:
        if process.poll() is not None:
            pytest.fail(f"the hub exited with {process.returncode}:\n{hub.log()}")
        answer = await _readyz(hub)
        if answer is None:
            return False
        code, body = answer
        return (code, body.get("role")) == ((200 if role == "active" else 503), role)

    await wait_for(has_role, timeout)


def _start(make: Callable[..., HubProcess], tmp_path: Path, env: dict[str, str]) -> HubProcess:
    hub = make(env)
    hub.log_path = tmp_path / f"hub-{hub.http_port}.log"
    return hub.start()


def _config(tmp_path: Path, server: HttpRecorder) -> dict[str, str]:
    config = tmp_path / "chuong.toml"
    config.write_text(
        f"""
[notifiers.hook]
type = "webhook"
url = "{server.url}{HOOK}"
timeout_s = 2
retry_min_s = 0.2
retry_max_s = 1

[[escalation.steps]]
after_s = {STEP_AFTER_S}
notify = ["hook"]
""",
        encoding="utf-8",
    )
    return {"CHUONG_CONFIG": str(config)}


def _hook_requests(server: HttpRecorder, alarm_id: str) -> list[Any]:
    return [r for r in server.on(HOOK) if r.json()["alarm"]["id"] == alarm_id]


def _rows(store: str, sql: str, *params: object) -> list[dict[str, Any]]:
    return [dict(row) for row in query_store(store, sql, *params)]


async def _paced_burst(
    publisher: LoadPublisher, prefix: str, seconds: float, kill_at: float, kill: Callable[[], None]
) -> tuple[list[Sent], float]:
    """RATE presses a second, each from a fresh button, for `seconds`; `kill` at `kill_at` (a
    monotonic time). Returns the presses and the time of the kill."""
    sent: list[Sent] = []
    killed_at = 0.0
    start = time.monotonic()
    for n in range(int(seconds * RATE)):
        await asyncio.sleep(max(0.0, start + n / RATE - time.monotonic()))
        if not killed_at and time.monotonic() >= kill_at:
            kill()
            killed_at = time.monotonic()
        sent.append(publisher.press(f"{prefix}-b{n:04d}"))
    if not killed_at:
        kill()
        killed_at = time.monotonic()
    return sent, killed_at


async def _raise_alarm(publisher: LoadPublisher, button: str, store: str) -> tuple[str, float]:
    """A press that raises an alarm with the escalation step; its id once it is stored."""
    sent = publisher.press(button)
    raised = time.monotonic()

    def stored() -> list[dict[str, Any]]:
        return _rows(
            store,
            "SELECT alarm_id FROM presses WHERE button_id = ? AND event_id = ?",
            sent.button,
            sent.event_id,
        )

    await wait_for(lambda: bool(stored()), timeout=20)
    return str(stored()[0]["alarm_id"]), raised


def _check_presses(store: str, acknowledged: set[tuple[str, str]]) -> None:
    presses = _rows(store, "SELECT button_id, event_id FROM presses")
    stored = [(p["button_id"], p["event_id"]) for p in presses]
    assert set(stored) >= acknowledged, f"lost {len(acknowledged - set(stored))} presses"
    assert len(stored) == len(set(stored)), "a press was recorded twice"
    assert _rows(store, "SELECT reason FROM rejected") == []


async def _settle(store: str, acknowledged: set[tuple[str, str]], timeout: float = 60) -> None:
    def done() -> bool:
        rows = _rows(store, "SELECT button_id, event_id FROM presses")
        return {(r["button_id"], r["event_id"]) for r in rows} >= acknowledged

    await wait_for(done, timeout)


def _fired_once(store: str, alarm_id: str, round_no: int) -> None:
    escalated = _rows(
        store,
        "SELECT detail FROM audit WHERE alarm_id = ? AND action = 'alarm.escalated'",
        alarm_id,
    )
    assert len(escalated) == 1, f"round {round_no}: the step fired {len(escalated)} times"


async def _check_all(
    publisher: LoadPublisher, store: str, server: HttpRecorder, alarms: list[str]
) -> set[tuple[str, str]]:
    """The end of a run: every press the broker acknowledged is stored exactly once, nothing was
    rejected, each alarm's step was notified once. Returns the acknowledged presses."""
    acknowledged = {(s.button, s.event_id) for s in publisher.acknowledged}
    assert not publisher.refused
    await _settle(store, acknowledged)
    _check_presses(store, acknowledged)
    await asyncio.sleep(1.0)  # a second firing, if any, would be on its way by now
    for alarm_id in alarms:
        assert len(_hook_requests(server, alarm_id)) == 1, f"{alarm_id}: notified twice"
    return acknowledged


async def test_two_hubs_one_active_and_kill9_failovers_lose_nothing(
    hub_process: Callable[..., HubProcess],
    broker: Mosquitto,
    http_recorder: Callable[[], HttpRecorder],
    store_url: str,
    tmp_path: Path,
) -> None:
    server = http_recorder()
    env = _config(tmp_path, server)
    active = _start(hub_process, tmp_path, env)
    await _wait_role(active, "active")
    standby = _start(hub_process, tmp_path, env)
    await _wait_role(standby, "standby")
    answer = await _readyz(active)
    assert answer is not None
    assert (answer[0], answer[1]["role"]) == (200, "active")

    # The standby is read-only and says so; its API reads the store.
    async with httpx.AsyncClient(base_url=standby.url, timeout=5) as client:
        refused = await client.post("/login", json={"username": "x", "password": "y"})
        assert refused.status_code == 503
        assert "standby" in refused.json()["detail"]
        assert "dự phòng" in refused.json()["detail"]
    assert "mqtt: subscribed" not in standby.log(), "the standby connected to the broker"

    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    takeovers: list[float] = []
    alarms: list[str] = []
    try:
        for round_no in range(FAILOVERS):
            alarm_id, raised = await _raise_alarm(publisher, f"sos-{round_no}", store_url)
            alarms.append(alarm_id)
            assert _hook_requests(server, alarm_id) == [], "the step fired before the kill"
            _, killed_at = await _paced_burst(
                publisher, f"r{round_no}", BURST_S, raised + KILL_AT_S, active.kill
            )
            await _wait_role(standby, "active", timeout=TAKEOVER_S + 30)
            takeover = time.monotonic() - killed_at
            takeovers.append(takeover)
            assert takeover < TAKEOVER_S, f"the standby took {takeover:.1f}s to take over"
            assert await publisher.drain(60), "the broker did not acknowledge every press"

            # The killed hub comes back, as systemd restarts it: the standby now.
            active, standby = standby, _start(hub_process, tmp_path, env)
            await _wait_role(standby, "standby")

            # The step due across the failover fired once.
            await wait_for(lambda a=alarm_id: len(_hook_requests(server, a)) >= 1, timeout=30)
            _fired_once(store_url, alarm_id, round_no)

        acknowledged = await _check_all(publisher, store_url, server, alarms)
        print(  # the figures for docs/HA.md
            f"failovers: {len(takeovers)}; takeover s: min {min(takeovers):.2f} "
            f"max {max(takeovers):.2f}; presses acknowledged {len(acknowledged)}, lost 0"
        )
    finally:
        await publisher.close()


async def test_a_frozen_active_commits_nothing_and_publishes_nothing_after_it_resumes(
    hub_process: Callable[..., HubProcess],
    broker: Mosquitto,
    store_url: str,
    tmp_path: Path,
) -> None:
    env: dict[str, str] = {}
    old = _start(hub_process, tmp_path, env)
    await _wait_role(old, "active")
    new = _start(hub_process, tmp_path, env)
    await _wait_role(new, "standby")
    topics = Topics(DEFAULT_ROOT)
    watcher = MqttWatcher(broker)
    await watcher.watch(topics.hub_status("post"))
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    assert old.process is not None
    try:
        for n in range(50):
            publisher.press(f"before-{n:03d}")
        assert await publisher.drain(30)
        old.process.send_signal(signal.SIGSTOP)
        frozen_log = old.log()
        # Presses while the old hub is frozen: the broker hands some to its dead socket.
        for n in range(50):
            publisher.press(f"frozen-{n:03d}")
        await _wait_role(new, "active", timeout=TAKEOVER_S + 30)
        assert await publisher.drain(30)
        await _settle(store_url, {(s.button, s.event_id) for s in publisher.acknowledged})
        connects = await _metric(new, "chuong_mqtt_connects_total")
        status_before = len(watcher.on(topics.hub_status("post")))

        old.process.send_signal(signal.SIGCONT)
        code = await asyncio.to_thread(old.process.wait, 8)
        assert code == 75, f"the resumed hub exited with {code}:\n{old.log()}"
        resumed = old.log()[len(frozen_log) :]
        assert "lost the store's lock" in resumed, resumed
        for sign in ("mqtt: subscribed", "mqtt: connected", "drained"):
            assert sign not in resumed, f"the resumed hub logged {sign!r}:\n{resumed}"

        # Presses after the resume go to the new active, whose session was never taken away.
        for n in range(50):
            publisher.press(f"after-{n:03d}")
        assert await publisher.drain(30)
        acknowledged = {(s.button, s.event_id) for s in publisher.acknowledged}
        assert len(acknowledged) == 150
        await _settle(store_url, acknowledged)
        _check_presses(store_url, acknowledged)
        assert await _metric(new, "chuong_mqtt_connects_total") == connects
        answer = await _readyz(new)
        assert answer is not None
        assert answer[0] == 200
        statuses = watcher.on(topics.hub_status("post"))[status_before:]
        assert statuses == [], f"the hub's status was published after the resume: {statuses}"
        assert json.loads(watcher.on(topics.hub_status("post"))[-1])["online"] is True
    finally:
        await publisher.close()
        watcher.close()


async def _metric(hub: HubProcess, name: str) -> float:
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{hub.url}/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )
