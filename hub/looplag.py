"""The event loop's lag: how late a periodic timer fires. Everything of the press path (reading
the broker's socket, planning, the PUBACK, the fan-out) runs on the loop, so whatever holds the
loop (a long review, a big plan, a garbage collection) holds the presses behind it by as much.

A timer every `interval_s` (10 ms) notes how late it fired in `chuong_loop_lag_seconds`, and the
largest lag seen in `chuong_loop_lag_max_seconds`. It costs one callback per interval (about
1 % of a core at most on a slow CPU)."""

from __future__ import annotations

import asyncio
from typing import Final

from hub.metrics import Metrics

INTERVAL_S: Final = 0.01


class LoopLag:
    def __init__(self, metrics: Metrics, interval_s: float = INTERVAL_S) -> None:
        self._metrics = metrics
        self._interval_s = interval_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self.largest = 0.0
        """The largest lag seen, in seconds."""

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._schedule()

    async def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self._interval_s
        self._handle = self._loop.call_at(self._due, self._fire)

    def _fire(self) -> None:
        assert self._loop is not None
        lag = max(0.0, self._loop.time() - self._due)
        self._metrics.loop_lag.observe(lag)
        if lag > self.largest:
            self.largest = lag
            self._metrics.loop_lag_max.set(lag)
        self._schedule()
