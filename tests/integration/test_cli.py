"""The `chuong` command as people run it: real processes, real broker."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from simulator.broker import Mosquitto, free_port
from tests.conftest import RunningHub, wait_for

StartHub = Callable[..., Awaitable[RunningHub]]


def chuong(
    *args: str, env: dict[str, str] | None = None, input_: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=input_,
        timeout=60,
        check=False,
    )


def store_env(path: Path, store_url: str | None) -> dict[str, str]:
    """The environment that points `chuong` at the test's store: the SQLite file, or the
    PostgreSQL database."""
    return {
        "CHUONG_STORE__PATH": str(path),
        **({"CHUONG_STORE__URL": store_url} if store_url else {}),
    }


def test_token_create_prints_the_token_once_and_it_works_only_until_revoked(
    tmp_path: Path, store_url: str | None
) -> None:
    """`chuong token create` prints a token on stdout (and a note on stderr); `token list` shows
    its name and role, never the token; `token revoke` ends it; a second live token of the same
    name is refused with a clear message."""
    env = store_env(tmp_path / "hub.db", store_url)
    created = chuong("token", "create", "--name", "tram-truc", "--role", "officer", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert re.fullmatch(r"chuong_[A-Za-z0-9_-]{43}", token)
    assert "shown only now" in created.stderr
    again = chuong("token", "create", "--name", "tram-truc", "--role", "viewer", env=env)
    assert again.returncode == 1
    assert "exists already" in again.stderr
    listing = chuong("token", "list", env=env)
    assert "tram-truc\tofficer" in listing.stdout
    assert token not in listing.stdout
    assert chuong("token", "revoke", "--name", "tram-truc", env=env).returncode == 0
    assert "revoked" in chuong("token", "list", env=env).stdout


def test_registry_import_is_an_idempotent_upsert(tmp_path: Path, store_url: str | None) -> None:
    """Importing the same file twice changes nothing the second time; a bad file is refused with
    the file and key named."""
    env = store_env(tmp_path / "hub.db", store_url)
    registry = tmp_path / "registry.toml"
    registry.write_text(
        '[[sites]]\nid = "bank"\nname = "Ngân hàng"\n\n[[buttons]]\nid = "bank-1"\nsite = "bank"\n',
        encoding="utf-8",
    )
    first = chuong("registry", "import", str(registry), env=env)
    assert first.returncode == 0, first.stderr
    assert "(1 sites and 1 buttons added or changed)" in first.stdout
    second = chuong("registry", "import", str(registry), env=env)
    assert "(0 sites and 0 buttons added or changed)" in second.stdout
    registry.write_text('[[buttons]]\nid = "Bad Id"\ncolour = "red"\n', encoding="utf-8")
    bad = chuong("registry", "import", str(registry), env=env)
    assert bad.returncode == 1
    assert "buttons.1.id: button id must match" in bad.stderr
    assert "buttons.1.colour: unknown key" in bad.stderr


def test_check_config_names_each_bad_key_and_exits_1(tmp_path: Path) -> None:
    """`chuong check-config` prints `section.key: problem` per problem (file or environment)."""
    config = tmp_path / "hub.toml"
    config.write_text(
        '[mqtt]\nport = 70000\nhots = "x"\n[store]\nbatch_max = 0\n', encoding="utf-8"
    )
    result = chuong("check-config", "--config", str(config), env={"CHUONG_HTTP__PORT": "http"})
    assert result.returncode == 1
    for expected in (
        "mqtt.port: Input should be less than or equal to 65535",
        "mqtt.hots: unknown key (did you mean host?)",
        "store.batch_max: Input should be greater than or equal to 1",
        "http.port: Input should be a valid integer",
        "(from CHUONG_HTTP__PORT)",
    ):
        assert expected in result.stderr


async def test_sim_presses_and_reports_the_hubs_answer(
    start_hub: StartHub, broker: Mosquitto
) -> None:
    """`chuong sim` connects virtual buttons to the broker, presses, and prints the hub's answer
    time; the presses became alarms."""
    running = await start_hub()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "sim",
        "--port",
        str(broker.port),
        "--buttons",
        "3",
        "--prefix",
        "sim",
        "--press-every",
        "0.2",
        "--duration",
        "1.5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    output = stdout.decode()
    assert "3 buttons connected" in output
    assert "hub answered in" in output
    assert "no ack" not in output
    alarms = await running.alarms()
    assert alarms
    assert all(a["unregistered"] for a in alarms)
    assert {d for a in alarms for d in a["devices"]} <= {"sim-01", "sim-02", "sim-03"}


@pytest.mark.sqlite_only("`chuong demo` always keeps its store in SQLite, in its own directory")
async def test_demo_runs_with_zero_set_up_and_stops_cleanly(tmp_path: Path) -> None:
    """`chuong demo` starts its own broker, a sample commune and simulated buttons; the printed
    token reads the API; Ctrl+C stops everything with status 0."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "demo",
        "--dir",
        str(tmp_path / "demo"),
        "--http-port",
        str(port),
        "--press-every",
        "0.3",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = ""
    token = None
    try:
        while token is None:
            line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
            assert line, f"the demo ended early:\n{output}"
            output += line
            match = re.search(r"admin token\s+(chuong_\S+)", line)
            token = match.group(1) if match else None
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
        ) as api:
            sites = (await api.get("/api/v1/sites")).json()
            assert len(sites) == 5
            assert any(s["name"] == "Trạm y tế xã Phước Hòa" for s in sites)

            async def alarm_raised() -> bool:
                return bool((await api.get("/api/v1/alarms")).json())

            await wait_for(alarm_raised, timeout=30)
            [*_, alarm] = (await api.get("/api/v1/alarms")).json()
            assert alarm["site"] is not None
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 30)
    assert code == 0


def test_the_shipped_example_configuration_is_valid() -> None:
    """config/hub.example.toml passes `chuong check-config` as shipped."""
    example = Path(__file__).parents[2] / "config" / "hub.example.toml"
    result = chuong("check-config", "--config", str(example))
    assert result.returncode == 0, result.stderr
    assert "configuration OK: hub xa-phuoc-hoa" in result.stdout


def test_the_shipped_example_registry_imports(tmp_path: Path, store_url: str | None) -> None:
    """config/registry.example.toml imports as shipped."""
    example = Path(__file__).parents[2] / "config" / "registry.example.toml"
    result = chuong("registry", "import", str(example), env=store_env(tmp_path / "x.db", store_url))
    assert result.returncode == 0, result.stderr
