"""Login rate limiting, with a fake monotonic clock (no sleeping)."""

from __future__ import annotations

from hub.web.ratelimit import LoginLimiter, Refusal


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: FakeClock, per_user: int = 3, per_address: int = 5, **kw: int) -> LoginLimiter:
    return LoginLimiter(
        per_user=per_user, per_address=per_address, window_s=600, monotonic=clock, **kw
    )


def test_a_name_is_refused_from_one_address_after_its_limit_until_the_window_passes() -> None:
    """3 failures for `officer` from one address: the 4th attempt from there is refused, saying
    how long to wait; once the first failure is 600 s old, one more attempt is allowed."""
    clock = FakeClock()
    limits = limiter(clock)
    for _ in range(3):
        assert limits.admit("officer", "10.0.0.1") is None
        clock.now += 10
    assert limits.locked("officer", "10.0.0.1") == "user"
    assert limits.admit("officer", "10.0.0.1") == Refusal("user", 570)
    clock.now += 569
    assert limits.admit("officer", "10.0.0.1") == Refusal("user", 1)
    clock.now += 1
    assert limits.admit("officer", "10.0.0.1") is None
    assert limits.admit("viewer", "10.0.0.1") is None  # other names are not touched


def test_failures_from_elsewhere_never_lock_a_name_out() -> None:
    """Failures for `officer` from 1,000 addresses (each under its own limits): `officer` from
    another address is still let in. Nobody can aim a lock-out at a person."""
    clock = FakeClock()
    limits = limiter(clock)
    for n in range(1000):
        for _ in range(3):
            limits.admit("officer", f"attacker-{n}")
    assert limits.admit("officer", "attacker-0") == Refusal("user", 600)
    assert limits.admit("officer", "the-post") is None


def test_a_known_browser_is_counted_alone() -> None:
    """An attempt with a device cookie is counted for that device only: the address it comes from
    may be locked (a proxy shared with an attacker), it is still let in; its own failures lock
    only itself."""
    clock = FakeClock()
    limits = limiter(clock)
    for name in "abcde":
        limits.admit(name, "proxy")
    assert limits.admit("officer", "proxy") == Refusal("address", 600)
    assert limits.admit("officer", "proxy", device="d1") is None
    limits.admit("officer", "proxy", device="d1")
    limits.admit("officer", "proxy", device="d1")
    assert limits.locked("officer", "proxy", device="d1") == "device"
    assert limits.admit("officer", "proxy", device="d1") == Refusal("device", 600)
    assert limits.admit("officer", "proxy", device="d2") is None
    limits.succeeded("officer", "proxy", device="d2")


def test_an_admin_lifts_the_locks_of_a_name_from_every_address() -> None:
    clock = FakeClock()
    limits = limiter(clock, per_address=100)
    for address in ("a", "b"):
        for _ in range(3):
            limits.admit("officer", address)
        limits.admit("other", address)
    assert limits.lift("officer") == 2
    assert limits.admit("officer", "a") is None
    assert limits.admit("officer", "b") is None
    assert limits.lift("nobody") == 0


def test_an_address_is_refused_after_its_limit_whatever_the_name() -> None:
    """5 failures from one address with 5 different names: the address is refused; another
    address is not."""
    clock = FakeClock()
    limits = limiter(clock)
    for name in "abcde":
        assert limits.admit(name, "192.0.2.7") is None
    assert limits.admit("f", "192.0.2.7") == Refusal("address", 600)
    assert limits.admit("f", "192.0.2.8") is None


def test_a_success_clears_the_name_and_is_not_counted_against_the_address() -> None:
    """Two failures then a success: the name starts afresh from that address, and the address
    counts only the two failures."""
    clock = FakeClock()
    limits = limiter(clock, per_user=3, per_address=3)
    limits.admit("officer", "a")
    limits.admit("officer", "a")
    assert limits.admit("officer", "a") is None
    limits.succeeded("officer", "a")
    assert limits.locked("officer", "a") is None
    assert limits.admit("viewer", "a") is None  # failures from `a`: 2 + this one
    assert limits.admit("viewer", "a") == Refusal("address", 600)


def test_refused_attempts_do_not_extend_the_wait() -> None:
    """Hammering while refused does not push the end of the wait further away."""
    clock = FakeClock()
    limits = limiter(clock, per_user=1)
    limits.admit("officer", "a")
    for _ in range(50):
        clock.now += 10
        limits.admit("officer", "a")
    clock.now = 1000.0 + 600
    assert limits.admit("officer", "a") is None


def test_memory_is_bounded() -> None:
    """A flood of made-up names keeps at most `max_keys` of them (the oldest are forgotten)."""
    clock = FakeClock()
    limits = limiter(clock, per_user=1, per_address=10**9, max_keys=100)
    for number in range(1000):
        limits.admit(f"user-{number}", "a")
    assert limits.admit("user-999", "a") == Refusal("user", 600)
    assert limits.locked("user-999", "a") == "user"
    assert limits.admit("user-0", "a") is None  # forgotten
