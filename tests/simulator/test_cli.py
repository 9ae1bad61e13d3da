"""`chuong sim`'s own options against a real Mosquitto (no hub: presses go unanswered)."""

from __future__ import annotations

import subprocess
import sys

from simulator.broker import Mosquitto


def sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", "sim", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_presses_makes_that_many_presses_starting_at_once(broker: Mosquitto) -> None:
    """`--presses 1` with a mean of an hour between presses still presses: at once, and the run
    ends after it (having waited its 5 s for an ack that never comes)."""
    result = sim(
        "--port", str(broker.port), "--buttons", "1", "--presses", "1", "--press-every", "3600"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("1 presses"), result.stdout
    assert "sim-01: pressed" in result.stdout


def test_presses_below_one_is_refused_by_name() -> None:
    """`--presses 0` is a usage error naming the option."""
    result = sim("--presses", "0")
    assert result.returncode == 2
    assert "--presses must be at least 1" in result.stderr


def test_no_repeat_makes_plain_qos_1_buttons(broker: Mosquitto) -> None:
    """By default a button presses again every 5 s until the hub answers `received` (the
    reference button's way; tests/simulator/test_repeat.py); `--no-repeat` makes plain QoS 1
    buttons, for measurements of the broker's PUBACK alone."""
    result = sim("--port", str(broker.port), "--buttons", "1", "--presses", "1", "--no-repeat")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("1 presses"), result.stdout
    assert "presses again (same id) every 5 s" in " ".join(sim("--help").stdout.split())
