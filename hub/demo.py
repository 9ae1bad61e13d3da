"""`chuong demo`: the whole system on one machine, with nothing to set up.

A private Mosquitto on a free port (persistence on, no queue limit), a store under `./var/demo`,
the sample commune of `hub/data/demo-registry.toml`, a hub serving the page and the API, and the
commune's buttons simulated: each with its own MQTT connection, one pressing every so often.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import shlex
import shutil
import signal
import sqlite3
import sys
from datetime import datetime
from importlib import resources
from pathlib import Path

from hub.api.tokens import create_token, revoke_token
from hub.app import Hub
from hub.clock import SystemClock
from hub.config import Config, HttpSection, HubSection, MqttSection, StoreSection
from hub.domain.model import Role
from hub.errors import ChuongError
from hub.logs import configure_logging
from hub.registry.file import RegistryFile, import_registry
from hub.store.db import open_sync
from hub.web.accounts import add_user, set_password
from simulator.broker import BrokerError, Mosquitto
from simulator.fleet import Fleet, PressReport

log = logging.getLogger(__name__)

DEMO_TOKEN_NAME = "demo-admin"  # noqa: S105  # the name of a token, not a secret
DEMO_OFFICER = "trucban"
"""The duty officer of the demo ("trực ban"), with a new password printed at every run."""
_READABLE = "abcdefghjkmnpqrstuvwxyz23456789"  # no two that read alike (l and 1, o and 0)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run everything locally: broker, hub, page and simulated buttons",
        description="Zero set-up demo: a private Mosquitto, a sample commune, simulated buttons.",
    )
    demo.add_argument(
        "--dir", type=Path, default=Path("var/demo"), help="working directory (default var/demo)"
    )
    demo.add_argument(
        "--http-host", default="127.0.0.1", help="address of the page (default 127.0.0.1)"
    )
    demo.add_argument("--http-port", type=int, default=8080, help="port of the page (default 8080)")
    demo.add_argument(
        "--press-every",
        type=float,
        default=45.0,
        metavar="S",
        help="a random simulated button presses every S seconds on average (default 45)",
    )
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    configure_logging(os.environ.get("CHUONG_LOG__LEVEL", "INFO"))
    try:
        return asyncio.run(_demo(args))
    except (BrokerError, ChuongError) as exc:
        print(f"chuong demo: {exc}", file=sys.stderr)
        return 1


def _registry() -> RegistryFile:
    text = resources.files("hub").joinpath("data/demo-registry.toml").read_text("utf-8")
    import tomllib  # noqa: PLC0415

    return RegistryFile.model_validate(tomllib.loads(text))


async def _demo(args: argparse.Namespace) -> int:
    workdir: Path = args.dir.resolve()
    broker = Mosquitto(workdir / "mosquitto")
    broker.start()
    config = Config(
        hub=HubSection(id="demo", name="Công an xã Phước Hòa"),
        mqtt=MqttSection(host=broker.host, port=broker.port),
        store=StoreSection(path=workdir / "hub.db"),
        http=HttpSection(host=args.http_host, port=args.http_port),
    )
    registry = _registry()
    now = SystemClock().now()
    with contextlib.closing(open_sync(config.store.path)) as conn:
        import_registry(conn, registry, now, actor="demo")
        with contextlib.suppress(ChuongError):  # a fresh token each run; the old one stops working
            revoke_token(conn, DEMO_TOKEN_NAME, now)
        token = create_token(conn, DEMO_TOKEN_NAME, Role.ADMIN, now)
        password = _demo_officer(conn, now)

    hub = Hub(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    fleet: Fleet | None = None
    try:
        await hub.start()
        fleet = Fleet(
            [b.id for b in registry.buttons],
            host=broker.host,
            port=broker.port,
            root=config.mqtt.root,
        )
        await fleet.connect()
        port = hub.http.port if hub.http else args.http_port
        _banner(args.http_host, port, token, password, broker, workdir, registry, args.press_every)
        run = asyncio.create_task(
            fleet.run(press_every=args.press_every, heartbeat_every=30, on_press=_report)
        )
        await stop.wait()
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
    finally:
        print("\nstopping…", flush=True)
        if fleet is not None:
            await fleet.close()
        await hub.stop()
        broker.stop()
    return 0


def _demo_officer(conn: sqlite3.Connection, now: datetime) -> str:
    """Create the demo's officer, or give it a new password; return the password."""
    password = "-".join("".join(secrets.choice(_READABLE) for _ in range(4)) for _ in range(3))
    try:
        add_user(conn, DEMO_OFFICER, Role.OFFICER, password, now, actor="demo")
    except ChuongError:  # it exists from an earlier run
        set_password(conn, DEMO_OFFICER, password, now, role=Role.OFFICER, actor="demo")
    return password


def _report(report: PressReport) -> None:
    answer = "no answer" if report.ack_ms is None else f"hub answered in {report.ack_ms:.1f} ms"
    log.info("demo: button %s pressed; %s", report.button, answer)


def _banner(
    host: str,
    port: int,
    token: str,
    password: str,
    broker: Mosquitto,
    workdir: Path,
    registry: RegistryFile,
    every: float,
) -> None:
    url = f"http://{host}:{port}"
    chuong = _chuong_command()
    print(
        f"""
  chuong demo — Tiếng chuông cảnh báo
  ───────────────────────────────────
  page and API   {url}      (API description: {url}/openapi.json)
  log in as      {DEMO_OFFICER}  password {password}   (duty officer; new at every run)
  admin token    {token}
                 curl -H "Authorization: Bearer {token}" {url}/api/v1/alarms
  broker         {broker.host}:{broker.port} (private Mosquitto; data in {workdir})
  buttons        {len(registry.buttons)} simulated at {len(registry.sites)} sites, one pressing
                 every ~{every:.0f} s
  press one      {chuong} sim --port {broker.port} --buttons 1 --prefix khach --presses 1

  Ctrl+C stops everything.
""",
        flush=True,
    )


def _chuong_command() -> str:
    """`chuong` as the demo's own shell can run it: `chuong` when that is this program on the
    PATH, else the path it was started by (`make run` starts `.venv/bin/chuong`, which is not on
    the PATH), else this Python with `-m hub`."""
    program = Path(sys.argv[0])
    if program.name != "chuong":
        return f"{shlex.quote(sys.executable)} -m hub"
    found = shutil.which("chuong")
    if found is not None and Path(found).resolve() == program.resolve():
        return "chuong"
    return shlex.quote(str(program))
