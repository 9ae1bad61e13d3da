"""The machine a benchmark ran on, for the report: figures mean little without it."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from simulator.broker import find_mosquitto


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _mosquitto_version() -> str:
    try:
        result = subprocess.run(  # noqa: S603  # our own binary, fixed arguments
            [find_mosquitto(), "-h"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        return "unknown"
    first = (result.stdout or result.stderr).splitlines()
    return first[0].removeprefix("mosquitto version ").strip() if first else "unknown"


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def describe() -> dict[str, Any]:
    uname = platform.uname()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "kernel": f"{uname.system} {uname.release} {uname.machine}",
        "python": platform.python_version(),
        "mosquitto": _mosquitto_version(),
        "sqlite": sqlite3.sqlite_version,
        "paho_mqtt": metadata.version("paho-mqtt"),
        "mqtt5": metadata.version("mqtt5"),  # the hub's codec (hub/broker/wire.py)
        "load_average_at_start": load_average(),
    }
