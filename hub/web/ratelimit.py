"""Login rate limiting: failed logins counted per user name and per address over a window.

Pure: time comes from an injected monotonic clock. Every attempt is counted when it is admitted,
before its password is checked, so a burst of parallel guesses cannot slip past the limit while
the slow hashes run; a success takes its own attempt back and clears the user name's count.

Refusing a user name after failures from anywhere lets someone lock a person out for one window
(15 minutes by default). That is the usual trade: the page of a logged-in officer keeps working
(its session is not touched), and `chuong user passwd` or a restart of the hub clears it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

MAX_KEYS: Final = 10_000
"""Names and addresses tracked at most; the oldest are forgotten first."""


Scope = Literal["user", "address"]


@dataclass(frozen=True, slots=True)
class Refusal:
    scope: Scope
    retry_after_s: int


class _Counter:
    def __init__(self, limit: int, window_s: float, max_keys: int) -> None:
        self.limit = limit
        self._window_s = window_s
        self._max_keys = max_keys
        self._times: dict[str, deque[float]] = {}

    def wait(self, key: str, now: float) -> float | None:
        """Seconds until `key` may try again, or None if it may now."""
        times = self._prune(key, now)
        if times is not None and len(times) >= self.limit:
            return times[0] + self._window_s - now
        return None

    def add(self, key: str, now: float) -> None:
        times = self._times.pop(key, None) or deque()
        times.append(now)
        self._times[key] = times  # re-inserted: the dict's order is "least recently failed first"
        while len(self._times) > self._max_keys:
            del self._times[next(iter(self._times))]

    def take_back(self, key: str) -> None:
        times = self._times.get(key)
        if times:
            times.pop()
            if not times:
                del self._times[key]

    def clear(self, key: str) -> None:
        self._times.pop(key, None)

    def _prune(self, key: str, now: float) -> deque[float] | None:
        times = self._times.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self._window_s:
            times.popleft()
        if not times:
            del self._times[key]
            return None
        return times


class LoginLimiter:
    def __init__(
        self,
        *,
        per_user: int,
        per_address: int,
        window_s: float,
        monotonic: Callable[[], float],
        max_keys: int = MAX_KEYS,
    ) -> None:
        self._users = _Counter(per_user, window_s, max_keys)
        self._addresses = _Counter(per_address, window_s, max_keys)
        self._monotonic = monotonic

    def admit(self, username: str, address: str) -> Refusal | None:
        """Count an attempt and let it go on (None), or refuse it, saying for how long."""
        now = self._monotonic()
        checks: tuple[tuple[Scope, _Counter, str], ...] = (
            ("user", self._users, username),
            ("address", self._addresses, address),
        )
        for scope, counter, key in checks:
            wait = counter.wait(key, now)
            if wait is not None:
                return Refusal(scope, max(1, math.ceil(wait)))
        self._users.add(username, now)
        self._addresses.add(address, now)
        return None

    def succeeded(self, username: str, address: str) -> None:
        """The attempt was right: it is not a failure, and the user name starts afresh."""
        self._users.clear(username)
        self._addresses.take_back(address)
