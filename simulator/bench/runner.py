"""`chuong sim bench`: one run, every measurement, against its own brokers and hub processes.

    press path, once per broker setting (a new broker, hub and store each time), then once more
    with the broker as shipped and the store on PostgreSQL (a private server; `postgresql`):
        ready        exec → /readyz 200 on a new store with a commune's registry
        idle         the commune hub at rest: CPU and resident memory (first setting only)
        floor        the bare broker hop, publisher → broker → listener; then, on SQLite, the
                     disk floor: a WAL frame written and `fdatasync`ed in the store's
                     directory at the same rate and count (`diskfloor.py`)
        latency      press → alarm and press → ack at a steady rate, a new button per press
        throughput   the rate stepped up until the hub no longer keeps up
        io_floor     the CPU of a press's MQTT work alone, in the hub's MQTT adapter (last
                     setting only: the broker saving least, so that the I/O is alone)
    supervision      N registered buttons heartbeating: the hub's CPU and memory
    restart          exec → /readyz 200 with no events, then with a million

The broker settings: as shipped (the persistence, queue and latency settings of
config/mosquitto/mosquitto.conf, read from the file: a snapshot every 5 s and at exit, QoS 0
queued; simulator/broker.py, `shipped=True`), then, unless `broker_save_every` is None, the
simulator's broker saving every N changes. The first is what a post runs; the second is the
setting the earlier figures were taken with, for comparison.

The hub runs as `python -m hub run`, configured by `CHUONG_*` variables only. Its CPU and memory
are read from /proc.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from simulator.bench import stages
from simulator.bench.config import (
    BUTTONS_PER_SITE,
    COMMUNE_PREFIX,
    LATENCY_PREFIX,
    POOL_PREFIX,
    PRESS_PHASES,
    ROOT,
    SUPERVISION_PREFIX,
    BenchConfig,
)
from simulator.bench.diskfloor import measure_disk_floor
from simulator.bench.hub import HubUnderTest, import_registry, write_registry
from simulator.bench.iofloor import measure_io_floor
from simulator.bench.latency import measure_floor, measure_presses
from simulator.bench.machine import describe, load_average
from simulator.bench.restart import measure_restart
from simulator.bench.stats import LoadMeter, mib
from simulator.bench.supervision import measure_supervision
from simulator.bench.throughput import Setup, Step, measure_throughput
from simulator.broker import Mosquitto
from simulator.pgcluster import PgCluster


def say(text: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


def _buttons(prefix: str, count: int, width: int) -> list[tuple[str, str]]:
    """`count` buttons `<prefix>-NN…`, four to a site `<prefix>-site-NNNNN`."""
    return [
        (f"{prefix}-{n:0{width}d}", f"{prefix}-site-{n // BUTTONS_PER_SITE:05d}")
        for n in range(count)
    ]


def _registry(path: Path, buttons: list[tuple[str, str]]) -> Path:
    sites = sorted({site for _, site in buttons})
    return write_registry(path, [(s, f"Cơ sở {s}") for s in sites], buttons)


def broker_setting(save_every: int | None) -> str:
    if save_every is None:
        return "as shipped (config/mosquitto/mosquitto.conf: a snapshot every 5 s and at exit)"
    return f"saving every {save_every} changes"


@contextlib.contextmanager
def _profiled(config: BenchConfig, hub: HubUnderTest, name: str) -> Iterator[None]:
    """py-spy records the hub while the block runs (only with `profile`)."""
    if config.profile is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    config.profile.mkdir(parents=True, exist_ok=True)
    output = config.profile / f"hub-{name}.svg"
    process = subprocess.Popen(  # noqa: S603  # py-spy from the profile extra, fixed arguments
        [spy, "record", "--pid", str(hub.pid), "--rate", "250", "--nonblocking", "-o", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
        say(f"profile of the hub during {name}: {output}")


class Bench:
    def __init__(self, config: BenchConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.results: dict[str, Any] = {}

    def run(self) -> dict[str, Any]:
        machine = describe()
        wanted = set(self.config.phases)
        if wanted & PRESS_PHASES:
            settings: list[int | None] = [None]
            if self.config.broker_save_every is not None and wanted & (PRESS_PHASES - {"idle"}):
                settings.append(self.config.broker_save_every)
            self.results["press_path"] = [
                self._press_path(save_every, wanted, first=n == 0, last=n == len(settings) - 1)
                for n, save_every in enumerate(settings)
            ]
            if self.config.postgresql and wanted & {"floor", "latency", "throughput"}:
                cluster = PgCluster().start()
                try:
                    self.results["press_path"].append(
                        self._press_path(
                            None,
                            wanted - {"idle", "io_floor"},
                            first=False,
                            last=False,
                            store_url=cluster.database(),
                        )
                    )
                finally:
                    cluster.stop()
        if wanted & {"supervision", "restart"}:
            with self._broker("shared", None) as broker:
                if "supervision" in wanted:
                    self._supervision(broker)
                if "restart" in wanted:
                    self._restart(broker)
        machine["load_average_at_end"] = load_average()
        config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self.config).items()}
        return {"machine": machine, "config": config, "results": self.results}

    @contextlib.contextmanager
    def _broker(self, name: str, save_every: int | None) -> Iterator[Mosquitto]:
        if save_every is None:
            broker = Mosquitto(self.workdir / f"mosquitto-{name}", shipped=True)
        else:
            broker = Mosquitto(self.workdir / f"mosquitto-{name}", save_every=save_every)
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()

    def _hub(
        self, broker: Mosquitto, hub_id: str, db: Path, url: str | None = None
    ) -> HubUnderTest:
        return HubUnderTest(
            self.workdir, broker, hub_id=hub_id, db=db, root=ROOT, env=self.config.hub_env, url=url
        )

    @staticmethod
    def _meter(hub: HubUnderTest, broker: Mosquitto) -> LoadMeter:
        if broker.process is None:
            raise RuntimeError("the broker is not running")
        return LoadMeter(hub.pid, broker.process.pid).start()

    # -- the press path, under one broker setting --------------------------------------------------

    def _press_path(
        self,
        save_every: int | None,
        wanted: set[str],
        *,
        first: bool,
        last: bool,
        store_url: str | None = None,
    ) -> dict[str, Any]:
        cfg = self.config
        name = "shipped" if save_every is None else f"save-{save_every}"
        store = "postgresql" if store_url else "sqlite"
        if store_url:
            name += "-pg"
        result: dict[str, Any] = {
            "broker": broker_setting(save_every),
            "save_every": save_every,
            "store": store,
        }
        say(f"press path, broker {result['broker']}, store {store}")
        db = self.workdir / f"press-{name}.db"
        commune = _buttons(COMMUNE_PREFIX, cfg.commune_buttons, 2)
        import_registry(db, _registry(self.workdir / "commune.toml", commune), store_url)
        with self._broker(name, save_every) as broker:
            hub = self._hub(broker, f"bench-{name}", db, store_url).start()
            try:
                result["ready_new_store_s"] = round(hub.wait_ready(), 3)
                if first and "idle" in wanted:
                    self.results["idle"] = self._idle(hub, broker)
                if "floor" in wanted:
                    meter = self._meter(hub, broker)
                    floor = measure_floor(broker.host, broker.port, cfg.rate, cfg.latency_presses)
                    result["floor"] = {**asdict(floor), "load": asdict(meter.stop())}
                    say(f"floor: {floor.latency}")
                    if store_url is None:  # the private PostgreSQL runs without fsync
                        meter = self._meter(hub, broker)
                        disk = measure_disk_floor(db.parent, cfg.rate, cfg.latency_presses)
                        result["disk_floor"] = {**asdict(disk), "load": asdict(meter.stop())}
                        say(f"disk floor ({disk.sync}): {disk.latency}")
                if wanted & {"latency", "throughput"}:
                    import_registry(db, self._press_registry(), store_url)
                if "latency" in wanted:
                    result["latency"] = self._latency(hub, broker)
                if "throughput" in wanted:
                    with _profiled(cfg, hub, f"throughput-{name}"):
                        result["throughput"] = self._throughput(hub, broker)
            finally:
                hub.stop()
            if last and "io_floor" in wanted:  # the broker saving least: the I/O alone
                io_floor = measure_io_floor(broker, ROOT, cfg.io_floor_rate, cfg.step_seconds)
                result["io_floor"] = asdict(io_floor)
                say(f"MQTT I/O floor: {io_floor}")
        return result

    def _idle(self, hub: HubUnderTest, broker: Mosquitto) -> dict[str, Any]:
        meter = self._meter(hub, broker)
        time.sleep(self.config.idle_seconds)
        load = meter.stop()
        idle = {
            "buttons": self.config.commune_buttons,
            "seconds": self.config.idle_seconds,
            "hub_cpu_percent": load.hub,
            "hub_rss_mib": mib(hub.sample().rss_bytes),
            "load": asdict(load),
        }
        say(f"idle: {idle}")
        return idle

    def _press_registry(self) -> Path:
        cfg = self.config
        count = cfg.warmup + cfg.latency_presses
        latency = [
            (f"{LATENCY_PREFIX}-{n:06d}", f"{LATENCY_PREFIX}-site-{n:06d}") for n in range(count)
        ]
        return _registry(
            self.workdir / "presses.toml", latency + _buttons(POOL_PREFIX, cfg.pool, 5)
        )

    def _latency(self, hub: HubUnderTest, broker: Mosquitto) -> dict[str, Any]:
        cfg = self.config
        buttons = [f"{LATENCY_PREFIX}-{n:06d}" for n in range(cfg.warmup + cfg.latency_presses)]
        meter = self._meter(hub, broker)
        before: stages.Buckets = {}

        def warmed() -> None:  # the stages of the counted presses only, as the latencies
            before.update(stages.parse(hub.metrics_text()))

        result = measure_presses(
            broker.host, broker.port, ROOT, cfg.rate, buttons, warmup=cfg.warmup, warmed=warmed
        )
        inside = stages.between(before, stages.parse(hub.metrics_text()))
        say(f"press → alarm {result.alarm.latency}; press → ack {result.ack.latency}")
        return {
            "rate": cfg.rate,
            **asdict(result),
            "load": asdict(meter.stop()),
            "stages": {name: asdict(found) for name, found in inside.items()},
        }

    def _throughput(self, hub: HubUnderTest, broker: Mosquitto) -> dict[str, Any]:
        cfg = self.config
        if broker.process is None:
            raise RuntimeError("the broker is not running")

        def report(step: Step) -> None:
            say(
                f"step {step.rate}/s: durable {step.durable_rate}/s, "
                f"{step.hub_cpu_us_per_press} µs/press, mean batch {step.mean_batch}, "
                f"{step.verdict}"
            )

        setup = Setup(
            host=broker.host,
            port=broker.port,
            root=ROOT,
            hub=hub,
            broker_pid=broker.process.pid,
            seconds=cfg.step_seconds,
            workers=cfg.workers,
            pool_prefix=POOL_PREFIX,
            pool_size=cfg.pool,
        )
        return asdict(measure_throughput(setup, cfg.rates, report))

    # -- supervision of many buttons ---------------------------------------------------------------

    def _supervision(self, broker: Mosquitto) -> None:
        cfg = self.config
        db = self.workdir / "supervision.db"
        buttons = _buttons(SUPERVISION_PREFIX, cfg.buttons, 6)
        import_registry(db, _registry(self.workdir / "supervised.toml", buttons))
        hub = self._hub(broker, "sup", db).start()
        try:
            hub.wait_ready()
            say(f"supervision: {cfg.buttons} buttons every {cfg.heartbeat_every} s")
            if broker.process is None:
                raise RuntimeError("the broker is not running")
            with _profiled(cfg, hub, "supervision"):
                result = measure_supervision(
                    host=broker.host,
                    port=broker.port,
                    root=ROOT,
                    db=db,
                    hub_pid=hub.pid,
                    broker_pid=broker.process.pid,
                    prefix=SUPERVISION_PREFIX,
                    count=cfg.buttons,
                    period=cfg.heartbeat_every,
                    connections=cfg.connections,
                    store_wait_s=cfg.heartbeat_every + 30,
                )
            self.results["supervision"] = asdict(result)
            say(f"supervision: {result}")
        finally:
            hub.stop()

    # -- restart with a big store ------------------------------------------------------------------

    def _restart(self, broker: Mosquitto) -> None:
        cfg = self.config
        say(f"restart: generating a store of {cfg.events} events")
        result = measure_restart(
            self.workdir,
            broker,
            registry=_registry(self.workdir / "province.toml", _buttons(POOL_PREFIX, cfg.pool, 5)),
            buttons=cfg.pool,
            buttons_prefix=POOL_PREFIX,
            events=cfg.events,
            root=ROOT,
            starts=cfg.starts,
        )
        self.results["restart"] = asdict(result)
        say(f"restart: {result}")


def run_bench(
    config: BenchConfig, workdir: Path | None = None, *, keep: bool = False
) -> dict[str, Any]:
    """Run the benchmark in `workdir` (a new temporary directory if None; removed unless `keep`)."""
    made = workdir is None
    directory = Path(tempfile.mkdtemp(prefix="chuong-bench-")) if workdir is None else workdir
    directory.mkdir(parents=True, exist_ok=True)
    try:
        return Bench(config, directory).run()
    finally:
        if made and not keep:
            shutil.rmtree(directory, ignore_errors=True)
        elif keep:
            say(f"work directory kept: {directory}")
