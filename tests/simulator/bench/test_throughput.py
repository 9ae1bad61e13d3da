"""What limited a throughput step: the verdicts, each from the figures that show it."""

from __future__ import annotations

from typing import Any

from simulator.bench.throughput import SUSTAINED, _verdict


def verdict(**changes: Any) -> str:
    figures: dict[str, Any] = {
        "rate": 1000,
        "seconds": 10.0,
        "sent_rate": 1000.0,
        "durable": 990.0,
        "presses": 10_000,
        "acked": 10_000,
        "refused": 0,
        "lost": 0,
        "window_wait": 0.0,
        "mean_batch": 3.0,
    }
    return _verdict(**{**figures, **changes})


def test_a_step_that_kept_up_is_sustained() -> None:
    assert verdict() == SUSTAINED


def test_a_loss_is_named_first_whatever_else_happened() -> None:
    assert verdict(lost=2, durable=10.0, sent_rate=5.0) == "LOST 2 presses"


def test_presses_the_broker_did_not_take() -> None:
    assert verdict(acked=9990, refused=10).startswith("the broker acknowledged 9990 of 10000")


def test_slow_sending_is_the_broker_when_the_publishers_waited_on_its_window() -> None:
    assert verdict(sent_rate=600.0, window_wait=5.0).startswith(
        "the broker acknowledged only 600/s"
    )
    assert verdict(sent_rate=600.0, window_wait=0.1) == "the generators reached only 600/s"


def test_slow_commits_are_the_hub_only_when_presses_waited_for_it() -> None:
    """Behind with small batches: the hub was waiting for the broker. Behind with big batches:
    presses queued in the hub, it is the limit."""
    assert verdict(durable=500.0, mean_batch=2.0).startswith("the broker delivered only 500/s")
    assert verdict(durable=500.0, mean_batch=600.0) == "the hub fell behind: 500/s committed"
