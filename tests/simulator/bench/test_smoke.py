"""`chuong sim bench --smoke`: the whole benchmark end to end with tiny numbers, against a real
Mosquitto and the hub as a real subprocess. It checks that every phase runs and that the report
says nothing was lost; it never judges speed (that is `make bench`'s job, on a quiet machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from simulator.bench.config import SMOKE


def test_smoke_run_reports_every_phase_with_nothing_lost(tmp_path: Path) -> None:
    """Every phase reports; every message of the floor and every press of the latency phase was
    answered, and the disk floor timed as many syncs on SQLite; every press the broker
    acknowledged in the throughput steps is stored once and counted once; every supervised
    button has its device state; the history store has its events; each target has a verdict.
    The press path runs on PostgreSQL too, with nothing lost."""
    report_path = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "sim",
            "bench",
            "--smoke",
            "--json",
            str(report_path),
            "--workdir",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "targets" in result.stdout
    report = json.loads(report_path.read_text())
    assert {"cpu", "cores", "kernel", "python", "mosquitto", "sqlite"} <= set(report["machine"])
    r = report["results"]
    assert {"idle", "press_path", "supervision", "restart"} <= set(r)
    assert [p["save_every"] for p in r["press_path"]] == [None, SMOKE.broker_save_every, None]
    assert [p["store"] for p in r["press_path"]] == ["sqlite", "sqlite", "postgresql"]

    presses = SMOKE.latency_presses
    for path in r["press_path"]:
        assert path["floor"]["sent"] == presses
        assert path["floor"]["missing"] == 0
        if path["store"] == "sqlite":  # the private PostgreSQL runs without fsync: no disk floor
            assert path["disk_floor"]["latency"]["count"] == presses
            assert path["disk_floor"]["sync"] == "fdatasync"
        else:
            assert "disk_floor" not in path
        for hop in ("alarm", "ack"):
            assert path["latency"][hop]["sent"] == presses
            assert path["latency"][hop]["missing"] == 0, hop
        throughput = path["throughput"]
        assert throughput["steps"], "no throughput step ran"
        for step in throughput["steps"]:
            assert step["acknowledged_by_broker"] == step["presses"]
            assert step["stored"] == step["acknowledged_by_broker"]
            assert step["lost"] == 0
        assert throughput["lost"] == 0
        assert throughput["doubled"] == 0
    io_floor = r["press_path"][1]["io_floor"]
    assert io_floor["handled"] == io_floor["presses"]

    assert r["supervision"]["devices_stored"] == SMOKE.buttons
    assert r["restart"]["history"]["events"] == SMOKE.events
    assert len(r["restart"]["history"]["ready_s"]) == SMOKE.starts
    assert len(r["restart"]["empty"]["ready_s"]) == SMOKE.starts

    assert len(report["targets"]) == 2 * 3 + 4
    assert all(target["met"] in (True, False) for target in report["targets"])
