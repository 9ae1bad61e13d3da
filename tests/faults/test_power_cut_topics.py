"""The proof run of the retained alarm topics: many power cuts (broker and hub killed -9 together)
during bursts, with the broker's persistence on."""

from __future__ import annotations

import os
from collections.abc import Callable

from simulator.broker import Mosquitto
from tests.conftest import HubProcess
from tests.integration.test_alarm_topics import PRESSES, run_power_cuts

ROUNDS = int(os.environ.get("PROOF_TOPIC_CUTS", "4"))


async def test_after_many_power_cuts_the_broker_retains_exactly_the_open_alarms(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """ROUNDS (4 by default, 6 in `make proof`: 3,000 open alarms) power cuts during bursts of 500
    presses of fresh buttons: once the broker and the hub are back, every open alarm of the store
    is on its retained topic with the store's state, and no other alarm is, within `IN_LINE_S`."""
    opened, _ = await run_power_cuts(hub_process, broker, rounds=ROUNDS, seed=ROUNDS * 104729)
    assert opened >= (ROUNDS - 1) * PRESSES
