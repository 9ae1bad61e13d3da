"""Supervision load: many buttons heartbeating, multiplexed on a few connections.

Each of `count` buttons sends a heartbeat (QoS 0, as the contract says) every `period` seconds,
spread evenly over the period, with a battery level, a signal strength that wanders by a few dB as
real radios do, its firmware and uptime. After one full period of warm-up (every button has been
heard once, so the hub knows them all) the hub's CPU and resident memory are read from /proc over
one more period. Finally the store is checked: every button must have its device state recorded.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from devices.topics import Topics
from simulator.bench.stats import Load, LoadMeter, ProcSample, cpu_percent, mib
from simulator.bench.wire import WirePublisher

TICK_S: Final = 0.01
RSS_EVERY_S: Final = 1.0


def heartbeat_payload(index: int, round_no: int, period: float) -> bytes:
    return json.dumps(
        {
            "seq": round_no,
            "battery": 60 + index % 40,
            "rssi": -50 - index % 30 - round_no % 3,
            "fw": "1.4.2",
            "uptime_s": int(round_no * period),
        },
        separators=(",", ":"),
    ).encode()


class HeartbeatFleet:
    """`count` virtual buttons on `connections` connections; heartbeat n of the whole fleet is
    due at start + n * period / count (button n mod count, its round n div count)."""

    def __init__(
        self,
        host: str,
        port: int,
        root: str,
        *,
        prefix: str,
        count: int,
        period: float,
        connections: int,
    ) -> None:
        self._topics = Topics(root)
        self._ids = [f"{prefix}-{n:06d}" for n in range(count)]
        self._period = period
        self._publishers = [
            WirePublisher(host, port, f"bench-heartbeats-{root}-{c}") for c in range(connections)
        ]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
        self._error: BaseException | None = None
        self.sent = 0
        self.started_at = 0.0

    def start(self) -> None:
        for publisher in self._publishers:
            publisher.connect()
        self.started_at = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        for publisher in self._publishers:
            publisher.close()
        if self._error is not None:
            raise RuntimeError(f"the heartbeat fleet failed: {self._error}") from self._error

    def _run(self) -> None:
        count, connections = len(self._ids), len(self._publishers)
        try:
            while not self._stop.wait(TICK_S):
                due = int((time.monotonic() - self.started_at) * count / self._period) + 1
                for number in range(self.sent, due):
                    index, round_no = number % count, number // count
                    self._publishers[index % connections].publish_qos0(
                        self._topics.heartbeat(self._ids[index]),
                        heartbeat_payload(index, round_no, self._period),
                    )
                self.sent = max(self.sent, due)
                for publisher in self._publishers:
                    publisher.flush()
        except Exception as exc:  # reported by stop()
            self._error = exc


@dataclass(frozen=True, slots=True)
class Supervision:
    buttons: int
    heartbeat_every_s: float
    connections: int
    heartbeats_per_s: float
    """sent during the measuring window"""
    window_s: float
    hub_cpu_percent: float
    """of one core, over the window"""
    hub_rss_mib_max: float
    hub_rss_mib_end: float
    load: Load
    devices_stored: int
    """buttons with a device state in the store at the end (should be all of them)"""


def _devices_stored(db: Path, prefix: str) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM device_state WHERE button_id LIKE ?", (f"{prefix}-%",)
        ).fetchone()
    return int(row[0])


def measure_supervision(
    *,
    host: str,
    port: int,
    root: str,
    db: Path,
    hub_pid: int,
    broker_pid: int,
    prefix: str,
    count: int,
    period: float,
    connections: int,
    store_wait_s: float,
) -> Supervision:
    fleet = HeartbeatFleet(
        host, port, root, prefix=prefix, count=count, period=period, connections=connections
    )
    fleet.start()
    try:
        time.sleep(period + 2 * TICK_S)  # warm-up: every button heard once
        meter = LoadMeter(hub_pid, broker_pid).start()
        first, sent_before = ProcSample.read(hub_pid), fleet.sent
        rss = [first.rss_bytes]
        while time.monotonic() - first.at < period:
            time.sleep(min(RSS_EVERY_S, max(0.0, period - (time.monotonic() - first.at))))
            rss.append(ProcSample.read(hub_pid).rss_bytes)
        last, sent_after = ProcSample.read(hub_pid), fleet.sent
        load = meter.stop()
    finally:
        fleet.stop()
    deadline = time.monotonic() + store_wait_s
    stored = _devices_stored(db, prefix)
    while stored < count and time.monotonic() < deadline:
        time.sleep(0.5)
        stored = _devices_stored(db, prefix)
    window = last.at - first.at
    return Supervision(
        buttons=count,
        heartbeat_every_s=period,
        connections=connections,
        heartbeats_per_s=round((sent_after - sent_before) / window, 1),
        window_s=round(window, 2),
        hub_cpu_percent=cpu_percent(first, last),
        hub_rss_mib_max=mib(max(rss)),
        hub_rss_mib_end=mib(last.rss_bytes),
        load=load,
        devices_stored=stored,
    )
