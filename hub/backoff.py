"""Exponential backoff with jitter: the one rule for every retry of the hub.

The delay before retry number `n` (counted from 0) is `first * 2**n`, at most `longest`, times a
random factor drawn from `jitter`, so that many hubs (or many notifications) that failed together
do not come back in step. Its users:

- the MQTT adapter reconnecting to the broker (`mqtt.reconnect_min_s` .. `reconnect_max_s`, each
  delay between half and all of its base);
- the writer retrying a commit the store refused for a reason that may pass (0.1 s doubling up
  to 5 s, 20 % either way);
- the notify dispatcher retrying a notification (`retry_min_s` .. `retry_max_s` of the
  notifier, up to 20 % shorter).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

MAX_DOUBLINGS: Final = 32
"""The exponent stops growing here: the base is long at `longest` by then, and a float never
overflows however long a failure lasts."""


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float
    """The base of the first retry (seconds)."""
    longest: float
    """The base never grows beyond this (seconds)."""
    jitter: tuple[float, float] = (0.5, 1.0)
    """Each delay is its base times a factor drawn uniformly from this range."""

    def __post_init__(self) -> None:
        low, high = self.jitter
        if not (self.first > 0 and self.longest > 0 and 0 <= low <= high):
            raise ValueError(f"invalid backoff {self!r}")

    def base(self, retry: int) -> float:
        """The delay before retry number `retry` (from 0), before jitter."""
        return min(self.longest, self.first * 2.0 ** min(max(retry, 0), MAX_DOUBLINGS))

    def delay(self, retry: int) -> float:
        """The delay before retry number `retry` (from 0), with its jitter."""
        low, high = self.jitter
        return self.base(retry) * random.uniform(low, high)  # noqa: S311  # jitter, not cryptography


@dataclass(slots=True)
class Retries:
    """The running count of a retry loop: `next()` gives the next delay, `reset()` starts over
    (after a success that lasted)."""

    backoff: Backoff
    count: int = field(default=0)

    def next(self) -> float:
        delay = self.backoff.delay(self.count)
        self.count = min(self.count + 1, MAX_DOUBLINGS)
        return delay

    def reset(self) -> None:
        self.count = 0
