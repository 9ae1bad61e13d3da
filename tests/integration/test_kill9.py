"""Guarantees 1 and 2 under the worst crash: kill -9 of the hub in the middle of a burst.

Every press the broker acknowledged to the publisher must end up an alarm exactly once, whatever
the moment of the kill. Each press comes from a fresh button, so each is its own alarm and the
count of alarms checks "exactly once" independently of the store's unique key.

The rounds are sized by what they prove, not by the machine's speed: each round publishes a fixed
number of presses as fast as the broker acknowledges them (at most `WINDOW` unacknowledged at a
time), and the hub is killed once a random number of them has been acknowledged, so the kill
always falls inside the burst, on a fast machine and on a slow one alike. Every wait is for a
condition, bounded only to stop a test that hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulator.broker import Mosquitto
from simulator.load import LoadPublisher, Sent
from tests.conftest import HubProcess, query_store, stalled_store

PRESSES = 500
"""presses per round"""
WINDOW = 50
"""presses published and not yet acknowledged by the broker, at most: the burst goes as fast as
the broker takes it"""
READY_S = 60.0
"""bound on a hub's start (it republishes every open alarm first); only a hung hub reaches it"""


async def _burst(
    publisher: LoadPublisher, round_no: int, presses: int, kill_after: int, kill: Callable[[], None]
) -> list[Sent]:
    """Publish `presses` presses of fresh buttons, paced by the broker's acknowledgements; call
    `kill` once `kill_after` of them are acknowledged (the rest go on while the hub is dead)."""
    sent: list[Sent] = []
    start = len(publisher.acknowledged)
    killed = False
    for n in range(presses):
        while publisher.in_flight >= WINDOW:  # noqa: ASYNC110  # PUBACKs arrive on paho's thread
            await asyncio.sleep(0.001)
        if not killed and len(publisher.acknowledged) - start >= kill_after:
            kill()
            killed = True
        sent.append(publisher.press(f"r{round_no}-b{n:05d}"))
    if not killed:
        kill()
    return sent


def _stored(store: Path | str) -> tuple[list[Any], list[Any]]:
    presses = query_store(store, "SELECT button_id, event_id, alarm_id FROM presses")
    alarms = query_store(store, "SELECT id, press_count FROM alarms")
    return presses, alarms


async def _settle(
    db: Path | str, expected: int, quiet_s: float = 10.0, limit_s: float = 120.0
) -> None:
    """Wait until `expected` presses are stored, or nothing new arrived for `quiet_s`."""
    started = last_change = time.monotonic()
    count = -1
    while time.monotonic() - started < limit_s:
        now_count = len(_stored(db)[0])
        if now_count >= expected:
            return
        if now_count != count:
            count, last_change = now_count, time.monotonic()
        elif time.monotonic() - last_change > quiet_s:
            return
        await asyncio.sleep(0.1)


async def kill_rounds(
    hub_process: Callable[..., HubProcess],
    publisher: LoadPublisher,
    rounds: int,
    seed: int,
    cut: Callable[[HubProcess], None],
    *,
    presses: int = PRESSES,
    stall: bool = False,
) -> HubProcess:
    """`rounds` times: start the hub, burst, `cut` it (kill -9) once a random share of the burst
    is acknowledged (with `stall`, while another connection holds the store's write lock, so that
    nothing of the round can be committed). Then a last start: returns that hub, ready."""
    chooser = random.Random(seed)
    for round_no in range(rounds):
        hub = hub_process().start()
        await hub.wait_ready(READY_S)
        kill_after = chooser.randint(presses // 10, presses * 9 // 10)
        with stalled_store(hub.store) if stall else contextlib.nullcontext():
            await _burst(publisher, round_no, presses, kill_after, functools.partial(cut, hub))
        assert await publisher.drain(120), "the broker did not acknowledge every press"
    hub = hub_process().start()
    await hub.wait_ready(READY_S)
    return hub


async def run_kill9_rounds(
    hub_process: Callable[..., HubProcess],
    broker: Mosquitto,
    rounds: int,
    seed: int,
    *,
    presses: int = PRESSES,
    stall: bool = False,
) -> int:
    """`kill_rounds` of the hub alone, then the check. Returns the number of presses checked."""
    publisher = LoadPublisher(host=broker.host, port=broker.port, repeat_s=None)
    await publisher.connect()
    hub: HubProcess | None = None
    try:
        hub = await kill_rounds(
            hub_process, publisher, rounds, seed, HubProcess.kill, presses=presses, stall=stall
        )
        acknowledged = {(s.button, s.event_id) for s in publisher.acknowledged}
        assert len(acknowledged) == presses * rounds
        assert not publisher.refused

        await _settle(hub.store, len(acknowledged))
        presses_stored, alarms = _stored(hub.store)
        stored = [(button, event) for button, event, _ in presses_stored]
        assert set(stored) >= acknowledged, f"lost {len(acknowledged - set(stored))} presses"
        assert len(stored) == len(set(stored)), "a press was recorded twice"
        assert all(alarm_id is not None for _, _, alarm_id in presses_stored)
        assert len(alarms) == len(stored), "each fresh button's press must be exactly one alarm"
        assert {count for _, count in alarms} == {1}
        return len(stored)
    finally:
        await publisher.close()
        if hub is not None:
            hub.close()


@pytest.mark.both_stores
async def test_kill9_during_a_burst_loses_nothing_and_doubles_nothing(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """Two rounds of kill -9 part-way through a burst, then a restart: every press the broker
    acknowledged is an alarm exactly once."""
    checked = await run_kill9_rounds(hub_process, broker, rounds=2, seed=20261122)
    assert checked == 2 * PRESSES


async def test_kill9_while_the_store_is_stalled_loses_nothing(
    hub_process: Callable[..., HubProcess], broker: Mosquitto
) -> None:
    """kill -9 while another connection holds the store's write lock and presses pile up
    uncommitted: none of them was acknowledged to the broker, so all come back after the restart.
    (A hub that acknowledged on receipt loses hundreds here.)"""
    checked = await run_kill9_rounds(hub_process, broker, rounds=1, seed=7, stall=True)
    assert checked == PRESSES
