"""`chuong sim bench`'s options, and `chuong sim` still running the fleet without a command."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli import build_parser
from simulator import cli as sim_cli
from simulator.bench import cli as bench_cli
from simulator.bench.config import PHASES, SMOKE, BenchConfig


def test_sim_without_a_command_still_runs_the_fleet() -> None:
    args = build_parser().parse_args(["sim", "--buttons", "20", "--press-every", "5"])
    assert args.handler is sim_cli.run_sim
    assert (args.buttons, args.press_every) == (20, 5.0)


def test_bench_defaults_are_the_full_run() -> None:
    args = build_parser().parse_args(["sim", "bench"])
    assert args.handler is bench_cli.run
    config = bench_cli.config_from(args)
    assert config == BenchConfig()
    assert config.phases == PHASES


def test_bench_options_change_only_what_they_name() -> None:
    args = build_parser().parse_args(
        [
            "sim",
            "bench",
            "--smoke",
            "--only",
            "latency, throughput",
            "--rates",
            "100,200",
            "--buttons",
            "7",
            "--broker-save-every",
            "0",
            "--hub-env",
            "chuong_store__batch_max=50",
            "--profile",
            "var/prof",
        ]
    )
    config = bench_cli.config_from(args)
    assert config.phases == ("latency", "throughput")
    assert config.rates == (100, 200)
    assert config.buttons == 7
    assert config.broker_save_every is None
    assert config.hub_env == {"CHUONG_STORE__BATCH_MAX": "50"}
    assert config.profile == Path("var/prof")
    assert config.pool == SMOKE.pool


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "floor,nope"], "unknown phases"),
        (["--pool", "0"], "--pool must be more than 0"),
        (["--seconds", "0"], "--seconds must be more than 0"),
        (["--rates", "100,-5"], "--rates must all be more than 0"),
        (["--broker-save-every", "-1"], "--broker-save-every"),
        (["--hub-env", "STORE__BATCH_MAX=5"], "expected CHUONG_SECTION__KEY=VALUE"),
    ],
)
def test_bench_refuses_nonsense(argv: list[str], message: str) -> None:
    args = build_parser().parse_args(["sim", "bench", *argv])
    with pytest.raises(ValueError, match=message):
        bench_cli.config_from(args)
