"""The proof run of guarantee 1: many rounds of kill -9 during bursts of presses."""

from __future__ import annotations

import os
from collections.abc import Callable

from simulator.broker import Mosquitto
from tests.conftest import HubProcess
from tests.integration.test_kill9 import PRESSES, run_kill9_rounds

ROUNDS = int(os.environ.get("PROOF_KILL_ROUNDS", "10"))


async def test_ten_rounds_of_kill9_lose_nothing_and_double_nothing(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """ROUNDS (10 by default, 20 in `make proof`) kills of the hub part-way through a burst, the
    store and the broker's retained alarms accumulating across rounds: every press the broker
    acknowledged is an alarm exactly once (5,000 presses at the default)."""
    checked = await run_kill9_rounds(hub_process, broker, rounds=ROUNDS, seed=ROUNDS * 7919)
    assert checked == ROUNDS * PRESSES
