"""The benchmark puts a press's time down to the hub's stages, from its `/metrics`
(simulator/bench/stages.py), and says how long the hub waited for a core."""

from __future__ import annotations

import math
import os

from prometheus_client import generate_latest

from hub.metrics import Metrics
from simulator.bench import stages
from simulator.bench.stats import run_queue_wait_s


def test_the_spread_of_each_stage_between_two_readings() -> None:
    metrics = Metrics()
    metrics.press_stage.labels("commit").observe(0.0008)  # before: not counted
    before = stages.parse(generate_latest(metrics.registry).decode())
    for _ in range(98):
        metrics.press_stage.labels("commit").observe(0.0015)
    metrics.press_stage.labels("commit").observe(0.03)
    metrics.press_stage.labels("commit").observe(20.0)  # past the last bucket
    metrics.loop_lag.observe(0.004)
    after = stages.parse(generate_latest(metrics.registry).decode())
    found = stages.between(before, after)
    assert set(found) == {"commit", "loop_lag"}
    commit = found["commit"]
    assert (commit.count, commit.p50_ms, commit.p99_ms) == (100, 2.0, 50.0)
    assert math.isinf(commit.max_ms)
    assert (found["loop_lag"].count, found["loop_lag"].max_ms) == (1, 5.0)


def test_run_queue_wait_of_a_process_is_read() -> None:
    assert run_queue_wait_s(os.getpid()) >= 0.0
