"""`chuong sim bench`: the benchmark's command line."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from simulator.bench.config import PHASES, SMOKE, BenchConfig


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = BenchConfig()
    bench = subparsers.add_parser(
        "bench",
        help="measure latency, throughput, supervision load and restart time",
        description="Start a private Mosquitto and the hub (as `python -m hub run`), drive them, "
        "and report latency against the bare broker hop, the highest durable press rate with "
        "nothing lost, the CPU and memory of supervising many buttons, and the time to ready "
        "with a big store. Prints a table; --json writes every figure with the machine's "
        "description. See docs/BENCHMARKS.md.",
    )
    bench.add_argument("--smoke", action="store_true", help="tiny numbers: checks it runs, fast")
    bench.add_argument(
        "--only",
        default=",".join(PHASES),
        metavar="PHASES",
        help=f"comma-separated phases to run (default all: {','.join(PHASES)})",
    )
    bench.add_argument("--rate", type=float, help=f"latency: presses/s (default {defaults.rate:g})")
    bench.add_argument(
        "--seconds", type=float, help=f"latency: duration (default {defaults.latency_seconds:g})"
    )
    bench.add_argument(
        "--rates",
        help="throughput: offered rates to step through (default "
        f"{','.join(map(str, defaults.rates))})",
    )
    bench.add_argument(
        "--step-seconds", type=float, help=f"throughput: step (default {defaults.step_seconds:g})"
    )
    bench.add_argument(
        "--workers", type=int, help=f"throughput: generator processes (default {defaults.workers})"
    )
    bench.add_argument(
        "--pool", type=int, help=f"throughput: buttons pressing (default {defaults.pool})"
    )
    bench.add_argument(
        "--buttons", type=int, help=f"supervision: buttons (default {defaults.buttons})"
    )
    bench.add_argument(
        "--heartbeat-every",
        type=float,
        metavar="S",
        help=f"supervision: heartbeat period (default {defaults.heartbeat_every:g})",
    )
    bench.add_argument(
        "--events", type=int, help=f"restart: events in the store (default {defaults.events})"
    )
    bench.add_argument(
        "--hub-env",
        action="append",
        default=[],
        metavar="CHUONG_X__Y=V",
        help="a setting for the hub under test (repeatable), to try a tuning",
    )
    bench.add_argument(
        "--broker-save-every",
        type=int,
        metavar="N",
        help="measure the press path a second time with the broker saving its persistence "
        "every N changes instead of as shipped (a snapshot every 5 s and at exit) (default "
        f"{defaults.broker_save_every}; 0: only with the broker as shipped)",
    )
    bench.add_argument(
        "--no-postgresql",
        action="store_true",
        help="do not measure the press path on PostgreSQL (by default it is, beside SQLite, on a "
        "private server started for the run)",
    )
    bench.add_argument("--json", type=Path, metavar="FILE", help="write the full report here")
    bench.add_argument("--workdir", type=Path, help="work here (default: a temporary directory)")
    bench.add_argument("--keep", action="store_true", help="keep the work directory")
    bench.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="record py-spy flame graphs of the hub under load into DIR (extra `profile`)",
    )
    bench.set_defaults(handler=run)


def config_from(args: argparse.Namespace) -> BenchConfig:
    config = SMOKE if args.smoke else BenchConfig()
    phases = tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise ValueError(f"unknown phases {unknown}; known: {', '.join(PHASES)}")
    env = {}
    for item in args.hub_env:
        key, sep, value = item.partition("=")
        if not sep or not key.upper().startswith("CHUONG_"):
            raise ValueError(f"--hub-env {item!r}: expected CHUONG_SECTION__KEY=VALUE")
        env[key.upper()] = value
    changes = {
        "rate": args.rate,
        "latency_seconds": args.seconds,
        "rates": tuple(int(r) for r in args.rates.split(",")) if args.rates else None,
        "step_seconds": args.step_seconds,
        "workers": args.workers,
        "pool": args.pool,
        "buttons": args.buttons,
        "heartbeat_every": args.heartbeat_every,
        "events": args.events,
        "profile": args.profile,
    }
    for name, value in changes.items():
        if isinstance(value, int | float) and value <= 0:
            flag = "seconds" if name == "latency_seconds" else name.replace("_", "-")
            raise ValueError(f"--{flag} must be more than 0")
    if any(rate <= 0 for rate in changes["rates"] or ()):
        raise ValueError("--rates must all be more than 0")
    if args.broker_save_every is not None:
        if args.broker_save_every < 0:
            raise ValueError("--broker-save-every must be 0 (not at all) or more")
        config = replace(config, broker_save_every=args.broker_save_every or None)
    if args.no_postgresql:
        config = replace(config, postgresql=False)
    return replace(
        config,
        phases=phases,
        hub_env=env,
        **{k: v for k, v in changes.items() if v is not None},
    )


def run(args: argparse.Namespace) -> int:
    # The benchmark is loaded only when asked for, not by every `chuong` command.
    from simulator.bench.hub import HubError  # noqa: PLC0415
    from simulator.bench.report import table, with_targets  # noqa: PLC0415
    from simulator.bench.runner import run_bench  # noqa: PLC0415
    from simulator.bench.wire import WireError  # noqa: PLC0415
    from simulator.broker import BrokerError  # noqa: PLC0415

    try:
        config = config_from(args)
    except ValueError as exc:
        print(f"chuong sim bench: {exc}", file=sys.stderr)
        return 2
    try:
        report = with_targets(run_bench(config, args.workdir, keep=args.keep))
    except (HubError, WireError, BrokerError, TimeoutError) as exc:
        print(f"chuong sim bench: {exc}", file=sys.stderr)
        return 1
    print(table(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return 0
