"""PostgreSQL goes away in the middle of a burst: nothing is lost, and nothing is acknowledged to
the broker before its commit.

The server is stopped part-way through a burst of presses (fresh buttons, each its own alarm);
the rest of the burst arrives while the hub cannot commit (nor read: the check for duplicates
fails too). Then either the server comes back and the same hub carries on, or the hub is first
killed (-9) while the server is down: whatever it had received but not committed must still be
the broker's (not acknowledged), so the next hub receives it again. Either way every press the
broker acknowledged to the publisher is an alarm exactly once, and none was set aside as
rejected.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator

import pytest

from simulator.broker import Mosquitto
from simulator.load import LoadPublisher
from simulator.pgcluster import PgCluster
from tests.conftest import HubProcess, query_store, wait_for
from tests.integration.test_kill9 import READY_S, _burst, _settle, _stored

PRESSES = 300

pytestmark = pytest.mark.postgresql_only("it stops and starts a PostgreSQL server of its own")


@pytest.fixture
def own_cluster() -> Iterator[PgCluster]:
    """A cluster of the test's own: it is stopped and started again."""
    cluster = PgCluster().start()
    if not cluster.owned:
        pytest.fail("this test stops the server: it needs its own cluster, not CHUONG_TEST_PG_URL")
    yield cluster
    cluster.stop()


@pytest.fixture
def store_url(own_cluster: PgCluster) -> str:
    return own_cluster.database()


@pytest.mark.parametrize("kill_hub", [False, True], ids=["server-back", "hub-killed-meanwhile"])
async def test_postgresql_stopped_during_a_burst_loses_nothing(
    hub_process: Callable[..., HubProcess],
    broker: Mosquitto,
    own_cluster: PgCluster,
    store_url: str,
    kill_hub: bool,
) -> None:
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    hub = hub_process().start()
    try:
        await hub.wait_ready(READY_S)
        await _burst(publisher, 0, PRESSES, PRESSES // 3, own_cluster.stop_server)
        assert await publisher.drain(120), "the broker did not acknowledge every press"
        # The hub goes on receiving and retrying; its commits fail until the server is back.
        await wait_for(lambda: re.search(r"store: (commit|read) failed", hub.log()), timeout=30)
        if kill_hub:
            hub.kill()
        await asyncio.to_thread(own_cluster.start_server)
        if kill_hub:
            hub = hub_process().start()
        await hub.wait_ready(READY_S)
        if not kill_hub:
            # The lock's connection broke with the server: the hub went off the broker, then took
            # the lock back with the next epoch (nobody held it meanwhile) and carried on.
            # (Its check runs every second: the commits may succeed again before it notices.)
            await wait_for(lambda: "store: took the store's lock back" in hub.log(), timeout=30)
            assert "mqtt: connection cut" in hub.log()
            await hub.wait_ready(READY_S)

        acknowledged = {(s.button, s.event_id) for s in publisher.acknowledged}
        assert len(acknowledged) == PRESSES
        await _settle(hub.store, len(acknowledged))
        presses, alarms = _stored(hub.store)
        stored = [(button, event) for button, event, _ in presses]
        assert set(stored) >= acknowledged, f"lost {len(acknowledged - set(stored))} presses"
        assert len(stored) == len(set(stored)), "a press was recorded twice"
        assert len(alarms) == len(stored), "each fresh button's press must be exactly one alarm"
        assert query_store(store_url, "SELECT reason, detail FROM rejected") == []
    finally:
        await publisher.close()
        hub.close()
