"""The proof run of guarantee 1: many rounds of kill -9 during a 1,000 presses/s burst."""

from __future__ import annotations

import os
from collections.abc import Callable

from simulator.broker import Mosquitto
from tests.conftest import HubProcess
from tests.integration.test_kill9 import BURST_S, RATE, run_kill9_rounds

ROUNDS = int(os.environ.get("PROOF_KILL_ROUNDS", "10"))


async def test_ten_rounds_of_kill9_lose_nothing_and_double_nothing(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """ROUNDS (10 by default) kills of the hub at random moments of 1,000 presses/s bursts, the
    store accumulating across rounds: every press the broker acknowledged is an alarm exactly once
    (15,000 presses at the default)."""
    checked = await run_kill9_rounds(hub_process, broker, rounds=ROUNDS, seed=ROUNDS * 7919)
    assert checked == ROUNDS * int(BURST_S * RATE)
