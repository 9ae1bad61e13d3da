"""The retained alarm topics after a power cut: what the broker holds matches the store.

A siren relay, a second screen or the link to the district reads `{root}/alarms/+`; after the
broker and the hub both die (kill -9) in the middle of a burst and start again, every open alarm of
the store must be on its topic with the store's state, and no topic may hold an alarm that is not
open. The repair that ensures it (hub/broker/repair.py) runs after every connection, and again
after a publication was dropped by a full queue, once the queue is low, without a reconnection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.profiles.base import DeviceAcl
from hub.broker import mqtt as mqtt_module
from hub.clock import SystemClock, iso
from hub.config import MqttSection
from hub.registry.credentials import acl_text
from hub.store.db import open_sync_at
from simulator.broker import Mosquitto
from simulator.button import VirtualButton
from simulator.load import LoadPublisher
from tests.conftest import HubProcess, RunningHub, store_location, wait_for
from tests.integration.alarm_topics import (
    retained_alarms,
    retained_payloads,
    stored_open_alarms,
    wait_in_line,
)
from tests.integration.test_kill9 import _settle, kill_rounds

log = logging.getLogger(__name__)

PRESSES = 500
"""presses per round, each of a fresh button: one open alarm each"""
IN_LINE_S = 150.0
"""bound on the repair after the last start, for 3,000 open alarms (3x what this machine needs)"""


async def run_power_cuts(
    hub_process: Callable[..., HubProcess],
    broker: Mosquitto,
    rounds: int,
    seed: int,
    presses: int = PRESSES,
) -> tuple[int, float]:
    """`rounds` times: start the hub, burst, kill -9 the broker and the hub together once a random
    share of the burst is acknowledged, start the broker again (the burst goes on into it). Then a
    last start of the hub, and the check: the retained topics match the store within `IN_LINE_S`.
    Returns the number of open alarms and how long they took to be in line."""

    def power_cut(hub: HubProcess) -> None:
        assert hub.process is not None
        assert broker.process is not None
        hub.process.send_signal(signal.SIGKILL)
        broker.process.send_signal(signal.SIGKILL)
        hub.kill()
        broker.kill()
        broker.start()

    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    hub: HubProcess | None = None
    try:
        hub = await kill_rounds(hub_process, publisher, rounds, seed, power_cut, presses=presses)
        await _settle(hub.store, len(publisher.acknowledged))
        took = await wait_in_line(broker, hub.store, IN_LINE_S)
        opened = len(stored_open_alarms(hub.store))
        log.warning(
            "power cuts: %d open alarms in line %.1f s after the presses settled", opened, took
        )
        return opened, took
    finally:
        await publisher.close()
        if hub is not None:
            hub.close()


async def test_after_power_cuts_every_open_alarm_is_on_its_retained_topic(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """Two power cuts (broker and hub killed -9 together, persistence on) during bursts: once
    both are back, the broker retains exactly the store's open alarms, each with its state."""
    opened, _ = await run_power_cuts(
        hub_process, broker, rounds=int(__import__("os").environ.get("R", "2")), seed=20261206
    )
    assert opened >= PRESSES  # the first round's presses at least, each its own open alarm


async def _press_fresh_buttons(running: RunningHub, broker: Mosquitto, count: int) -> list[str]:
    """`count` presses of fresh buttons; the ids of their alarms once the hub has them all."""
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    try:
        for n in range(count):
            publisher.press(f"fresh-{n:03d}")
        assert await publisher.drain(60)
    finally:
        await publisher.close()

    async def raised() -> bool:
        return len(await running.alarms()) >= count

    await wait_for(raised, timeout=60)
    return sorted(a["id"] for a in await running.alarms())


def _connections(running: RunningHub) -> float:
    registry = running.hub.metrics.registry
    return sum(
        registry.get_sample_value("chuong_mqtt_connects_total", {"session": session}) or 0.0
        for session in ("new", "resumed")
    )


async def test_a_queue_that_filled_while_the_broker_stalled_is_repaired_once_it_drains(
    start_hub: Callable[..., Awaitable[RunningHub]],
    broker: Mosquitto,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The broker stalls (SIGSTOP) while officers handle 20 alarms: the hub's outgoing queue (40
    here, 60,000 in the hub) fills and publications are dropped. Once the broker takes what
    waits, the hub brings every alarm topic in line with the store, on the same connection."""
    monkeypatch.setattr(mqtt_module, "OUTGOING_LIMIT", 40)
    running = await start_hub()
    alarms = await _press_fresh_buttons(running, broker, 30)
    await wait_in_line(broker, store_location(running.config), IN_LINE_S)
    connections = _connections(running)
    officer = running.api()
    assert broker.process is not None
    broker.process.send_signal(signal.SIGSTOP)
    try:
        for alarm_id in alarms[:10]:
            response = await officer.post(f"/api/v1/alarms/{alarm_id}/ack", json={"note": "tới"})
            assert response.status_code == 200, response.text
        for alarm_id in alarms[10:20]:
            response = await officer.post(
                f"/api/v1/alarms/{alarm_id}/resolve", json={"outcome": "test", "note": "thử"}
            )
            assert response.status_code == 200, response.text
        dropped = running.hub.metrics.registry.get_sample_value(
            "chuong_mqtt_publications_dropped_total"
        )
        assert dropped, "the stalled broker's queue must have filled up"
    finally:
        broker.process.send_signal(signal.SIGCONT)

    await wait_in_line(broker, store_location(running.config), IN_LINE_S)
    assert _connections(running) == connections, "repaired without a new connection"
    assert len(stored_open_alarms(store_location(running.config))) == 20


async def test_at_start_stale_states_are_replaced_and_long_resolved_alarms_cleared(
    start_hub: Callable[..., Awaitable[RunningHub]], broker: Mosquitto
) -> None:
    """While the hub is away (a month, for one of its alarms) the broker comes to hold an alarm's
    older state, loses another alarm's topic, and holds again an alarm resolved a month ago (it
    restored an old database): at its start the hub publishes the first two again and clears the
    third, although it was resolved long before the last day."""
    running = await start_hub()
    first, second, third = await _press_fresh_buttons(running, broker, 3)
    await wait_in_line(broker, store_location(running.config), IN_LINE_S)
    held = await retained_payloads(broker)
    assert held is not None
    open_then = {a: held[a] for a in (first, third)}
    admin = running.api()
    response = await admin.post(f"/api/v1/alarms/{first}/ack", json={"note": "tới"})
    assert response.status_code == 200, response.text
    response = await admin.post(
        f"/api/v1/alarms/{third}/resolve", json={"outcome": "test", "note": "thử"}
    )
    assert response.status_code == 200, response.text
    await wait_in_line(broker, store_location(running.config), IN_LINE_S)
    await running.hub.stop()
    month_ago = iso(SystemClock().now() - timedelta(days=30))
    with contextlib.closing(open_sync_at(store_location(running.config))) as conn, conn:
        conn.execute("UPDATE alarms SET resolved_at = ? WHERE id = ?", (month_ago, third))

    writer = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await writer.connect()
    try:
        for alarm_id, payload in open_then.items():
            writer.publish_raw(f"chuong/v1/alarms/{alarm_id}", payload, retain=True)
        writer.publish_raw(f"chuong/v1/alarms/{second}", b"", retain=True)
        assert await writer.drain(30)
    finally:
        await writer.close()
    stale = await retained_alarms(broker)
    assert stale is not None
    assert (stale[first][0], second in stale, third in stale) == ("active", False, True)

    restarted = await start_hub()
    await wait_in_line(broker, store_location(restarted.config), IN_LINE_S)


@pytest.mark.parametrize("hub_line", ["readwrite", "write"])
async def test_with_the_generated_acl_and_with_an_older_one_a_lost_clear_is_repaired(
    start_hub: Callable[..., Awaitable[RunningHub]], tmp_path: Path, hub_line: str
) -> None:
    """A broker with passwords and the ACL `chuong registry credentials` writes (`readwrite`:
    the hub reads its alarm topics back), and with an ACL from before (`write`: Mosquitto lets
    the hub subscribe and then hides every message). An alarm is resolved, then the broker holds
    it again (its clear was lost): at its next start the hub clears it either way."""
    directory = tmp_path / "creds"
    directory.mkdir()
    users: dict[str, DeviceAcl | None] = {"hub-post": None, "bank-1": None}
    acl = acl_text(
        root="chuong/v1", hub_user="hub-post", users=users, hub_reads=[], now=SystemClock().now()
    )
    acl = acl.replace("topic readwrite chuong/v1/alarms/#", f"topic {hub_line} chuong/v1/alarms/#")
    acl += "\nuser watcher\ntopic read chuong/v1/alarms/#\n"
    (directory / "acl").write_text(acl)
    logins = {"hub-post": "hub-pw", "bank-1": "bank-pw", "watcher": "watch-pw"}
    (directory / "passwd").write_text("".join(f"{u}:{pw}\n" for u, pw in logins.items()))
    hashing = ["mosquitto_passwd", "-U", str(directory / "passwd")]
    await asyncio.to_thread(subprocess.run, hashing, check=True)
    broker = Mosquitto(
        tmp_path / "secured", password_file=directory / "passwd", acl_file=directory / "acl"
    ).start()
    watcher = ("watcher", "watch-pw")
    try:
        mqtt = MqttSection(
            port=broker.port,
            username="hub-post",
            password="hub-pw",  # a test broker's
            reconnect_min_s=0.1,
            reconnect_max_s=1.0,
        )
        running = await start_hub(mqtt=mqtt)
        button = VirtualButton(
            "bank-1", host=broker.host, port=broker.port, username="bank-1", password="bank-pw"
        )
        await button.connect()
        try:
            await button.press()
        finally:
            await button.close()
        pipeline = running.hub.pipeline
        assert pipeline is not None
        await wait_for(lambda: len(pipeline.state.alarms) == 1)
        alarm_id = next(iter(pipeline.state.alarms))
        store = store_location(running.config)
        await wait_in_line(broker, store, IN_LINE_S, login=watcher)
        held = await retained_payloads(broker, login=watcher)
        assert held is not None
        response = await running.api().post(
            f"/api/v1/alarms/{alarm_id}/resolve", json={"outcome": "test", "note": "thử"}
        )
        assert response.status_code == 200, response.text
        await wait_in_line(broker, store, IN_LINE_S, login=watcher)
        await running.hub.stop()

        lost = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        lost.username_pw_set("hub-post", "hub-pw")
        lost.connect(broker.host, broker.port)
        lost.loop_start()
        try:
            topic = f"chuong/v1/alarms/{alarm_id}"
            lost.publish(topic, held[alarm_id], qos=1, retain=True).wait_for_publish(10)
        finally:
            lost.disconnect()
            lost.loop_stop()
        assert alarm_id in ((await retained_alarms(broker, login=watcher)) or {})

        await start_hub(mqtt=mqtt)
        await wait_in_line(broker, store, IN_LINE_S, login=watcher)
    finally:
        broker.kill()
