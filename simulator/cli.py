"""`chuong sim`: drive virtual buttons against any broker."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from devices.messages import is_button_id
from devices.topics import DEFAULT_ROOT
from simulator import scenarios
from simulator.bench import cli as bench_cli
from simulator.button import REPEAT_S
from simulator.fleet import Fleet, PressReport

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = subparsers.add_parser(
        "sim",
        help="drive virtual buttons against a broker",
        description="Connect N virtual buttons (each its own MQTT connection, with a last will) "
        "and press a random one now and then, printing how long the hub took to answer.",
    )
    sim.add_argument("--host", default="127.0.0.1", help="broker host (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=1883, help="broker port (default 1883)")
    sim.add_argument("--root", default=DEFAULT_ROOT, help=f"topic root (default {DEFAULT_ROOT})")
    sim.add_argument("--buttons", type=int, default=10, help="how many buttons (default 10)")
    sim.add_argument("--prefix", default="sim", help="button ids are <prefix>-01, … (default sim)")
    sim.add_argument(
        "--press-every",
        type=float,
        default=5.0,
        metavar="S",
        help="a random button presses every S seconds on average (default 5)",
    )
    sim.add_argument(
        "--heartbeat-every", type=float, default=60.0, metavar="S", help="default 60; 0: none"
    )
    sim.add_argument(
        "--duration", type=float, default=None, metavar="S", help="stop after S seconds"
    )
    sim.add_argument(
        "--presses",
        type=int,
        default=None,
        metavar="N",
        help="stop after N presses (the first at once)",
    )
    sim.add_argument(
        "--no-repeat",
        dest="repeat",
        action="store_false",
        help="plain QoS 1 buttons that stop at the broker's PUBACK; by default each button, as "
        "the reference button does, presses again (same id) every 5 s until the hub answers "
        "`received`",
    )
    sim.add_argument(
        "--scenario",
        choices=scenarios.SCENARIOS,
        default=None,
        help="instead of a fleet, one button misbehaving (flaky-wifi, dying-battery, tamper, "
        "silent) or one off-the-shelf device speaking its vendor's payloads; its id (or native "
        "id) is <prefix>-01",
    )
    sim.set_defaults(handler=run_sim)
    commands = sim.add_subparsers(title="sim commands", metavar="COMMAND")
    bench_cli.add_parser(commands)


def run_sim(args: argparse.Namespace) -> int:
    width = max(2, len(str(max(args.buttons, 1))))
    ids = [f"{args.prefix}-{n:0{width}d}" for n in range(1, args.buttons + 1)]
    problem = _problem(args, ids)
    if problem is not None:
        print(f"chuong sim: {problem}", file=sys.stderr)
        return 2
    try:
        if args.scenario is not None:
            asyncio.run(_scenario(args, ids[0]))
            return 0
        return asyncio.run(_simulate(args, ids))
    except KeyboardInterrupt:
        return 0


def _problem(args: argparse.Namespace, ids: list[str]) -> str | None:
    if args.buttons < 1:
        return "--buttons must be at least 1"
    if args.presses is not None and args.presses < 1:
        return "--presses must be at least 1"
    if args.press_every <= 0:
        return "--press-every must be more than 0"
    if not all(is_button_id(i) for i in ids):
        return f"--prefix {args.prefix!r} does not make valid button ids"
    return None


async def _scenario(args: argparse.Namespace, button_id: str) -> None:
    await scenarios.run(
        args.scenario,
        button_id=button_id,
        host=args.host,
        port=args.port,
        root=args.root,
        press_every=args.press_every,
        duration=args.duration or 60.0,
        say=lambda text: print(text, flush=True),
    )


def _print(report: PressReport) -> None:
    if report.ack_ms is None:
        print(
            f"{report.button}: pressed ({report.press.event_id}); no ack from the hub within 5 s",
            flush=True,
        )
    else:
        print(
            f"{report.button}: pressed ({report.press.event_id}); "
            f"hub answered in {report.ack_ms:.1f} ms",
            flush=True,
        )


async def _simulate(args: argparse.Namespace, ids: list[str]) -> int:
    fleet = Fleet(
        ids,
        host=args.host,
        port=args.port,
        root=args.root,
        repeat_s=REPEAT_S if args.repeat else None,
    )
    try:
        await fleet.connect()
    except (OSError, TimeoutError) as exc:
        print(f"chuong sim: cannot connect to {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"{len(ids)} buttons connected to {args.host}:{args.port} under {args.root}", flush=True)
    try:
        count = await fleet.run(
            press_every=args.press_every,
            heartbeat_every=args.heartbeat_every or None,
            duration=args.duration,
            count=args.presses,
            on_press=_print,
        )
    finally:
        await fleet.close()
    print(f"{count} presses", flush=True)
    return 0
