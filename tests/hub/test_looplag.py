"""The event loop's lag monitor (hub/looplag.py) sees what holds the loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from hub.looplag import LoopLag
from hub.metrics import Metrics


def _count(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    return 0.0 if value is None else value


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_a_held_loop_shows_as_lag() -> None:
    metrics = Metrics()
    lag = LoopLag(metrics, interval_s=0.01)
    await lag.start()
    try:
        await _until(lambda: _count(metrics, "chuong_loop_lag_seconds_count") >= 3)
        time.sleep(0.1)  # noqa: ASYNC251  # something holds the loop for 100 ms
        await _until(lambda: _count(metrics, "chuong_loop_lag_seconds_count") >= 5)
        assert lag.largest >= 0.08
        assert _count(metrics, "chuong_loop_lag_max_seconds") == lag.largest
        under_50ms = metrics.registry.get_sample_value(
            "chuong_loop_lag_seconds_bucket", {"le": "0.05"}
        )
        assert under_50ms is not None
        assert _count(metrics, "chuong_loop_lag_seconds_count") - under_50ms >= 1
    finally:
        await lag.stop()
