"""What the broker retains on the alarm topics, and what the store says should be there.

`retained_alarms` reads the broker the way a siren relay or a second screen does when it starts: a
new subscriber to `{root}/alarms/+` gets every retained alarm. It gathers them at QoS 1 until none
has arrived for `quiet_s` (Mosquitto sends a subscription's retained messages at once, paced only
by the subscriber's PUBACKs). `wait_in_line` compares that with the store (SQLite or PostgreSQL).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from devices.topics import DEFAULT_ROOT
from simulator.broker import Mosquitto
from tests.conftest import query_store

Shown = tuple[str, int, int]
"""What is compared of an alarm: its state, press count and escalation level."""


Login = tuple[str, str] | None
"""A user name and password for a broker that asks for them."""


def _retained_now(
    broker: Mosquitto, root: str, quiet_s: float, limit_s: float, login: Login
) -> dict[str, bytes] | None:
    held: dict[str, bytes] = {}
    lock = threading.Lock()
    last = [time.monotonic()]
    subscribed = threading.Event()

    def on_message(client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with lock:
            last[0] = time.monotonic()
            if not message.retain or not message.payload:
                return
            held[message.topic.rsplit("/", 1)[1]] = bytes(message.payload)

    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.set()
    if login is not None:
        client.username_pw_set(*login)
    try:
        client.connect(broker.host, broker.port)
    except OSError:
        return None  # the broker is not back yet
    client.loop_start()
    try:
        client.subscribe(f"{root}/alarms/+", qos=1)
        if not subscribed.wait(limit_s):
            return None
        with lock:
            last[0] = time.monotonic()
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            with lock:
                if time.monotonic() - last[0] > quiet_s:
                    return dict(held)
            time.sleep(0.05)
        return None
    finally:
        client.disconnect()
        client.loop_stop()


async def retained_payloads(
    broker: Mosquitto, root: str = DEFAULT_ROOT, login: Login = None
) -> dict[str, bytes] | None:
    """alarm id -> the payload the broker retains for it; None if the broker could not be
    read."""
    return await asyncio.to_thread(_retained_now, broker, root, 1.0, 60.0, login)


async def retained_alarms(
    broker: Mosquitto, root: str = DEFAULT_ROOT, login: Login = None
) -> dict[str, Shown] | None:
    """alarm id -> what the broker retains for it; None if the broker could not be read."""
    payloads = await retained_payloads(broker, root, login)
    if payloads is None:
        return None
    shown = {alarm_id: json.loads(payload) for alarm_id, payload in payloads.items()}
    return {a: (v["state"], v["press_count"], v["level"]) for a, v in shown.items()}


def stored_open_alarms(store: Path | str) -> dict[str, Shown]:
    """alarm id -> its state in the store (a SQLite file or a PostgreSQL URL), for every alarm
    not resolved."""
    rows = query_store(
        store, "SELECT id, state, press_count, level FROM alarms WHERE state <> 'resolved'"
    )
    return {alarm_id: (state, count, level) for alarm_id, state, count, level in rows}


def difference(retained: dict[str, Shown], stored: dict[str, Shown]) -> str:
    """Say how the broker differs from the store, briefly ("" if it does not)."""
    missing = stored.keys() - retained.keys()
    stale = retained.keys() - stored.keys()
    wrong = [a for a in stored.keys() & retained.keys() if stored[a] != retained[a]]
    if not (missing or stale or wrong):
        return ""
    return (
        f"{len(missing)} open alarms missing from their topic, {len(stale)} topics of alarms not"
        f" open, {len(wrong)} with another state (of {len(stored)} open); e.g."
        f" {sorted(missing)[:3]} {sorted(stale)[:3]} {sorted(wrong)[:3]}"
    )


async def wait_in_line(
    broker: Mosquitto,
    store: Path | str,
    timeout: float,
    root: str = DEFAULT_ROOT,
    login: Login = None,
) -> float:
    """Wait until the broker's retained alarm topics match the store; return how long it took.
    Fails with the last difference seen after `timeout`."""
    started = time.monotonic()
    seen = "the broker could not be read"
    while time.monotonic() - started < timeout:
        retained = await retained_alarms(broker, root, login)
        if retained is not None:
            seen = difference(retained, stored_open_alarms(store))
            if not seen:
                return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(
        f"the alarm topics are not in line with the store after {timeout}s: {seen}"
    )
