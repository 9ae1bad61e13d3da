"""Unit tests of hub/backoff.py: the delays of every retry of the hub (the broker connection, a
failed commit, a notification)."""

from __future__ import annotations

import random

import pytest

from hub.backoff import MAX_DOUBLINGS, Backoff, Retries


@pytest.mark.parametrize("seed", range(20))
def test_retries_double_up_to_the_longest_and_reset(seed: int) -> None:
    """Each delay lies in [base/2, base], the base doubling up to the longest, with jitter so
    that many hubs (or buttons) do not reconnect in step; reset starts over."""
    random.seed(seed)
    retries = Retries(Backoff(0.5, 8.0))
    bases = [0.5, 1, 2, 4, 8, 8, 8]
    delays = [retries.next() for _ in bases]
    for delay, base in zip(delays, bases, strict=True):
        assert base / 2 <= delay <= base
    retries.reset()
    assert 0.25 <= retries.next() <= 0.5


def test_jitter_spreads_the_delays() -> None:
    """Twenty backoffs at the same step do not all wait the same time."""
    delays = {round(Retries(Backoff(1.0, 30.0)).next(), 6) for _ in range(20)}
    assert len(delays) > 10


@pytest.mark.parametrize(
    ("jitter", "retry", "low", "high"),
    [
        ((0.8, 1.0), 0, 4.0, 5.0),  # a notifier: retry_min_s = 5, up to 20 % shorter
        ((0.8, 1.0), 3, 32.0, 40.0),
        ((0.8, 1.0), 9, 48.0, 60.0),  # at retry_max_s = 60
        ((0.8, 1.2), 0, 4.0, 6.0),  # a commit: 20 % either way
    ],
)
def test_delay_is_the_base_times_its_jitter(
    jitter: tuple[float, float], retry: int, low: float, high: float
) -> None:
    backoff = Backoff(5.0, 60.0, jitter=jitter)
    for _ in range(50):
        assert low <= backoff.delay(retry) <= high


def test_a_failure_that_lasts_never_overflows() -> None:
    """A store down for days retries forever: the exponent stops at MAX_DOUBLINGS instead of
    growing until the float overflows."""
    backoff = Backoff(0.1, 5.0)
    assert backoff.base(10_000) == 5.0
    retries = Retries(backoff)
    for _ in range(2 * MAX_DOUBLINGS):
        assert retries.next() <= 5.0


def test_a_base_of_zero_or_reversed_jitter_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid backoff"):
        Backoff(0.0, 5.0)
    with pytest.raises(ValueError, match="invalid backoff"):
        Backoff(1.0, 5.0, jitter=(1.0, 0.5))
