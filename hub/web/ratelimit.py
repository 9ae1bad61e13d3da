"""Login rate limiting that nobody can aim at a person.

Failed logins are counted over a window, and an attempt is refused (429) while one of its counts
is at its limit:

- an attempt from a browser this user logged in from before (it carries a *device cookie*
  `chuong_device`, signed by the hub for that user name) is counted for that browser only: no
  failure anywhere else, from any address, can lock it out;
- any other attempt is counted per (user name, address) and per address (any name). Failures
  for `officer` from one address do not touch `officer` from another address, so a stranger
  cannot lock a person out; they only lock themselves out.

There is no count per user name from everywhere: that is the count an attacker could aim at a
person. Guessing from many addresses at once is slowed by the argon2 work (two verifications at a
time, `hub.web.routes`), and every failure is in the audit log. An admin can lift the locks of a
user name (`DELETE /api/v1/login-locks/{username}`), and a restart of the hub forgets them.

Pure: time comes from an injected monotonic clock. Every attempt is counted when it is admitted,
before its password is checked, so a burst of parallel guesses cannot slip past the limit while
the slow hashes run; a success takes its own attempt back and clears its counts.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

MAX_KEYS: Final = 10_000
"""Names and addresses tracked at most; the oldest are forgotten first."""


Scope = Literal["user", "address", "device"]


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

    def clear_prefix(self, prefix: str) -> int:
        keys = [key for key in self._times if key.startswith(prefix)]
        for key in keys:
            del self._times[key]
        return len(keys)

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
        self._pairs = _Counter(per_user, window_s, max_keys)
        self._addresses = _Counter(per_address, window_s, max_keys)
        self._devices = _Counter(per_user, window_s, max_keys)
        self._monotonic = monotonic

    def _checks(
        self, username: str, address: str, device: str | None
    ) -> tuple[tuple[Scope, _Counter, str], ...]:
        if device is not None:
            return (("device", self._devices, device),)
        return (
            ("user", self._pairs, _pair(username, address)),
            ("address", self._addresses, address),
        )

    def admit(self, username: str, address: str, device: str | None = None) -> Refusal | None:
        """Count an attempt and let it go on (None), or refuse it, saying for how long. `device`:
        the id of a valid device cookie for this user name, if the attempt carries one."""
        now = self._monotonic()
        checks = self._checks(username, address, device)
        for scope, counter, key in checks:
            wait = counter.wait(key, now)
            if wait is not None:
                return Refusal(scope, max(1, math.ceil(wait)))
        for _, counter, key in checks:
            counter.add(key, now)
        return None

    def locked(self, username: str, address: str, device: str | None = None) -> Scope | None:
        """After a failure: the count that is now at its limit (the next attempt is refused)."""
        now = self._monotonic()
        for scope, counter, key in self._checks(username, address, device):
            if counter.wait(key, now) is not None:
                return scope
        return None

    def succeeded(self, username: str, address: str, device: str | None = None) -> None:
        """The attempt was right: it is not a failure, and its user name starts afresh."""
        if device is not None:
            self._devices.clear(device)
            return
        self._pairs.clear(_pair(username, address))
        self._addresses.take_back(address)

    def lift(self, username: str) -> int:
        """An admin lifts the locks of a user name, from every address: how many there were."""
        return self._pairs.clear_prefix(_pair(username, ""))


def _pair(username: str, address: str) -> str:
    return f"{username}\n{address}"
