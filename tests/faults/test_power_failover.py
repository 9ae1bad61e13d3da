"""Active/standby (docs/HA.md) when the active hub's machine loses its power, on one machine.

Each hub runs as if on a machine of its own: it reaches PostgreSQL and Mosquitto through two
proxies of its own (`simulator.netcut.CuttableProxy`). A power cut of the active's machine is its
two proxies cut (nothing passes either way, no connection is closed: the server and the broker
see a peer that went silent) and the hub frozen (SIGSTOP: a dead machine runs nothing). The
proxies keep the connections open towards the server, whose keepalives their kernel answers: only
the server's own timeouts and the new active's fencing free what the dead hub held.

Each round, during a 100/s burst of presses (plain QoS 1, not repeated: the guarantee checked is
"every press the broker acknowledged"), the active's machine loses its power 1.2 s after an
alarm whose escalation step falls due 1.5 s after it. The standby must answer `/readyz` 200
`"active"` (store locked, broker subscribed) within 10 s, taking the hub's broker session over
from the silent connection (the broker's log says so). Then the power comes back: the old hub
runs again (SIGCONT) while its network is still cut (4 s, or 12 s in every other round), then
its network returns. It must never answer ready, commit nothing, connect to the broker no more,
publish nothing, and exit 75 (to be started again as the standby, as systemd does: a fresh
machine with fresh connections, the standby of the next round). At the end every acknowledged
press is stored exactly once, nothing was rejected, and each round's escalation step fired once.

POWER_FAILOVERS rounds (2; `PROOF_POWER_FAILOVERS` in `make proof`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devices.topics import Topics
from simulator.broker import Mosquitto
from simulator.load import DEFAULT_ROOT, LoadPublisher
from simulator.netcut import CuttableProxy
from tests.conftest import HubProcess, wait_for
from tests.faults.test_failover import (
    BURST_S,
    KILL_AT_S,
    TAKEOVER_S,
    _check_all,
    _config,
    _fired_once,
    _hook_requests,
    _metric,
    _paced_burst,
    _raise_alarm,
    _readyz,
    _rows,
    _settle,
    _start,
    _wait_role,
    store_url,
)
from tests.integration.escalation.conftest import MqttWatcher
from tests.integration.notify.loopback import HttpRecorder, http_recorder

__all__ = ["http_recorder", "store_url"]  # the fixtures, used by the test below

POWER_FAILOVERS = int(os.environ.get("PROOF_POWER_FAILOVERS", "2"))
RESUMED_CUT_S = (4.0, 12.0)
"""how long the old hub runs again with its network still cut, in turn: longer than its lease;
longer than its connection timeout (5 s) too, so that its attempts to reach PostgreSQL time out
unanswered"""
EXIT_S = 30.0
"""bound on the old hub's exit once its network is back (connect timeout, lock refused)"""
TAKEOVER_LOG = "already connected, closing old connection"
"""Mosquitto's log line for a session taken over by a new connection with the same client id"""


@dataclass
class Machine:
    """A hub and the network between it and the post's PostgreSQL and broker."""

    hub: HubProcess
    pg: CuttableProxy
    mqtt: CuttableProxy

    def power_cut(self) -> None:
        """The network goes silent and the hub stops running, at the same moment."""
        self.pg.cut()
        self.mqtt.cut()
        assert self.hub.process is not None
        self.hub.process.send_signal(signal.SIGSTOP)

    def close(self) -> None:
        if self.hub.process is not None and self.hub.process.poll() is None:
            self.hub.process.send_signal(signal.SIGCONT)
        self.pg.close()
        self.mqtt.close()


@pytest.fixture
def machines(
    hub_process: Callable[..., HubProcess],
    broker: Mosquitto,
    store_url: str,
    http_recorder: Callable[[], HttpRecorder],
    tmp_path: Path,
) -> Iterator[tuple[Callable[[], Machine], HttpRecorder]]:
    """A maker of machines (a hub behind its own proxies, started), and the webhook's server."""
    server = http_recorder()
    env = _config(tmp_path, server)
    made: list[Machine] = []
    head, _, tail = store_url.rpartition("@")
    pg_host, _, rest = tail.partition(":")
    pg_port, _, database = rest.partition("/")

    def make() -> Machine:
        pg = CuttableProxy(pg_host, int(pg_port)).start()
        mqtt = CuttableProxy(broker.host, broker.port).start()
        machine = Machine(
            _start(
                hub_process,
                tmp_path,
                {
                    **env,
                    "CHUONG_STORE__URL": f"{head}@{pg.host}:{pg.port}/{database}",
                    "CHUONG_MQTT__HOST": mqtt.host,
                    "CHUONG_MQTT__PORT": str(mqtt.port),
                },
            ),
            pg,
            mqtt,
        )
        made.append(machine)
        return machine

    yield make, server
    for machine in made:
        machine.close()


async def test_the_active_machine_loses_power_during_a_burst_and_comes_back_fenced(
    machines: tuple[Callable[[], Machine], HttpRecorder],
    broker: Mosquitto,
    store_url: str,
) -> None:
    make, server = machines
    active = make()
    await _wait_role(active.hub, "active")
    standby = make()
    await _wait_role(standby.hub, "standby")

    topics = Topics(DEFAULT_ROOT)
    watcher = MqttWatcher(broker)
    await watcher.watch(topics.hub_status("post"))
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    takeovers: list[float] = []
    alarms: list[str] = []
    try:
        for round_no in range(POWER_FAILOVERS):
            old = active
            assert old.hub.process is not None
            alarm_id, raised = await _raise_alarm(publisher, f"sos-{round_no}", store_url)
            alarms.append(alarm_id)
            assert _hook_requests(server, alarm_id) == [], "the step fired before the cut"
            takeovers_logged = broker.log_path.read_text().count(TAKEOVER_LOG)
            frozen_log = ""

            def power_cut(machine: Machine = old) -> None:
                nonlocal frozen_log
                machine.power_cut()
                frozen_log = machine.hub.log()

            _, cut_at = await _paced_burst(
                publisher, f"r{round_no}", BURST_S, raised + KILL_AT_S, power_cut
            )
            await _wait_role(standby.hub, "active", timeout=TAKEOVER_S + 30)
            takeover = time.monotonic() - cut_at
            takeovers.append(takeover)
            assert takeover < TAKEOVER_S, f"the standby took {takeover:.1f}s to take over"
            assert await publisher.drain(60), "the broker did not acknowledge every press"
            # The dead hub's broker connection was still open (the broker notices silence after
            # 1.5 keepalives, 45 s): the new active took its session over, with what was queued.
            assert broker.log_path.read_text().count(TAKEOVER_LOG) > takeovers_logged
            active, standby = standby, old
            acknowledged = {(s.button, s.event_id) for s in publisher.acknowledged}
            await _settle(store_url, acknowledged)

            # The step due across the power cut fired, from the new active; so did the steps of
            # the burst's alarms (every press of a new button raises one): the store is still.
            await wait_for(lambda a=alarm_id: len(_hook_requests(server, a)) >= 1, timeout=30)
            await wait_for(lambda: len(set(_counts(store_url))) == 1, timeout=30)

            # The power comes back; the network after the hub.
            stored = _counts(store_url)
            connects = await _metric(active.hub, "chuong_mqtt_connects_total")
            statuses = len(watcher.on(topics.hub_status("post")))
            old.hub.process.send_signal(signal.SIGCONT)
            await asyncio.sleep(RESUMED_CUT_S[round_no % len(RESUMED_CUT_S)])
            answer = await _readyz(old.hub)
            assert answer is not None, "the resumed hub does not answer"
            assert answer[0] == 503, f"the resumed hub says it is ready: {answer}"
            assert "lost the store's lock" in old.hub.log()[len(frozen_log) :]
            old.pg.restore()
            old.mqtt.restore()
            code = await asyncio.to_thread(old.hub.process.wait, EXIT_S)
            assert code == 75, f"the resumed hub exited with {code}:\n{old.hub.log()}"
            resumed = old.hub.log()[len(frozen_log) :]
            for sign in ("mqtt: subscribed", "mqtt: connected", "drained"):
                assert sign not in resumed, f"the resumed hub logged {sign!r}:\n{resumed}"
            assert _counts(store_url) == stored, "the resumed hub committed something"
            assert watcher.on(topics.hub_status("post"))[statuses:] == [], (
                "the hub's status was published after the power came back"
            )
            assert await _metric(active.hub, "chuong_mqtt_connects_total") == connects
            old.close()

            # Its machine restarted, systemd starts the hub: the standby of the next round.
            standby = make()
            await _wait_role(standby.hub, "standby")

            _fired_once(store_url, alarm_id, round_no)

        acknowledged = await _check_all(publisher, store_url, server, alarms)
        assert json.loads(watcher.on(topics.hub_status("post"))[-1])["online"] is True
        print(  # the figures for docs/HA.md
            f"power cuts: {len(takeovers)}; takeover s: min {min(takeovers):.2f} "
            f"max {max(takeovers):.2f} ({' '.join(f'{t:.2f}' for t in takeovers)}); "
            f"presses acknowledged {len(acknowledged)}, lost 0"
        )
    finally:
        await publisher.close()
        watcher.close()


def _counts(store: str) -> tuple[int, int, int]:
    """The store's presses, alarms and escalation audit entries."""
    row = _rows(
        store,
        "SELECT (SELECT count(*) FROM presses) AS p, (SELECT count(*) FROM alarms) AS a, "
        "(SELECT count(*) FROM audit WHERE action = 'alarm.escalated') AS e",
    )[0]
    return int(row["p"]), int(row["a"]), int(row["e"])
