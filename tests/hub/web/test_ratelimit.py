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


def test_a_user_name_is_refused_after_its_limit_until_the_window_passes() -> None:
    """3 failures for `officer` (from any address): the 4th attempt is refused, saying how long
    to wait; once the first failure is 600 s old, one more attempt is allowed."""
    clock = FakeClock()
    limits = limiter(clock)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        assert limits.admit("officer", address) is None
        clock.now += 10
    assert limits.admit("officer", "10.0.0.9") == Refusal("user", 570)
    clock.now += 569
    assert limits.admit("officer", "10.0.0.9") == Refusal("user", 1)
    clock.now += 1
    assert limits.admit("officer", "10.0.0.9") is None
    assert limits.admit("viewer", "10.0.0.9") is None  # other names are not touched


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
    """Two failures then a success: the name starts afresh, and the address counts only the two
    failures."""
    clock = FakeClock()
    limits = limiter(clock, per_user=3, per_address=3)
    limits.admit("officer", "a")
    limits.admit("officer", "a")
    assert limits.admit("officer", "a") is None
    limits.succeeded("officer", "a")
    assert limits.admit("officer", "b") is None
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
    assert limits.admit("user-0", "a") is None  # forgotten
