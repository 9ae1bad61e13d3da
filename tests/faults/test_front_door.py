"""The front door under attack (issue 13): the hub as a real process, attacked on loopback.

1. 1,100 half-open connections (a request line and one header each, then nothing), from 11
   client addresses, against a hub whose open-file limit is 1,024 (soft and hard, so that it
   cannot raise it): `/healthz` keeps answering, a press during the attack is an alarm whose
   webhook is delivered on time, every attacking connection is closed by the server, the hub
   never runs out of descriptors and its log stays small. `PROOF_DOOR_WAVES` waves of the attack
   follow each other (2 in `make test`, 10 in `make proof`).
2. 200 MiB bodies to every route family, with and without credentials, and three 250 MiB
   bodies at once without a length: each is refused with 413 before it is read, and the hub's
   peak memory barely moves.

Client addresses: every address of 127.0.0.0/8 is the loopback; the probes come from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import httpx

from hub.clock import SystemClock
from hub.registry.file import import_registry
from hub.store.db import open_sync
from simulator.button import VirtualButton
from tests.conftest import SAMPLE_REGISTRY, HubProcess
from tests.integration.notify.loopback import HttpRecorder

Buttons = Callable[..., Awaitable[VirtualButton]]

WAVES: Final = int(os.environ.get("PROOF_DOOR_WAVES", "2"))
CONNECTIONS: Final = 1100
SOURCES: Final = [f"127.0.0.{n}" for n in range(2, 13)]
"""11 client addresses, 100 connections each: over the per-address cap (32) from each, and over
the server's cap (256) in all."""
OPEN_FILES: Final = (1024, 1024)
REQUEST_TIMEOUT_S: Final = 10
HALF_OPEN: Final = b"GET / HTTP/1.1\r\nHost: hub\r\n"
PROBE_EVERY_S: Final = 0.25
PROBES_ANSWERED: Final = 0.9
DELIVERY_BOUND_S: Final = 10.0
"""From the press to the webhook's arrival. Generous: without the front door it came 46 s late."""
CLOSE_WAIT_S: Final = 3 * (REQUEST_TIMEOUT_S + 20)
"""How long an attacking connection may stay open: the deadline, plus the time a loaded machine
takes to open 1,100 connections, with a 3x margin."""

MIB: Final = 2**20
SENT_BOUND: Final = 32 * MIB
"""What a refused client may still push into the kernel's buffers before it sees the close."""
PEAK_GROWTH_BOUND: Final = 64 * MIB
"""The hub's peak memory may grow this much at most (reading 200 MiB bodies took it to 667 MB)."""


def _config(path: Path, hook: HttpRecorder) -> Path:
    path.write_text(
        f"""
[notifiers.hook]
type = "webhook"
url = "{hook.url}/hook"
timeout_s = 5

[[escalation.steps]]
after_s = 0
notify = ["hook"]
""",
        encoding="utf-8",
    )
    return path


def _seed(db: Path) -> None:
    with contextlib.closing(open_sync(db)) as conn:
        import_registry(conn, SAMPLE_REGISTRY, SystemClock().now())


def _status_kib(pid: int, key: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1))  # type: ignore[union-attr]


def _open_file_limits(pid: int) -> tuple[int, int]:
    text = Path(f"/proc/{pid}/limits").read_text()
    soft, hard = re.search(r"^Max open files\s+(\d+)\s+(\d+)", text, re.M).groups()  # type: ignore[union-attr]
    return int(soft), int(hard)


def _admin_token(hub: HubProcess) -> str:
    return subprocess.run(
        [sys.executable, "-m", "hub", "token", "create", "--name", "door", "--role", "admin"],
        env=hub.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def _descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def _attacker(port: int, source: str) -> bytes | None:
    """One half-open connection: what the server sent before closing it (None: the connection
    was not made, or was not closed in time)."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), CLOSE_WAIT_S
        )
    except (OSError, TimeoutError):
        return None
    try:
        writer.write(HALF_OPEN)
        return await asyncio.wait_for(reader.read(), CLOSE_WAIT_S)
    except ConnectionError:
        return b""
    except TimeoutError:
        return None
    finally:
        writer.close()


async def test_half_open_connections_do_not_take_the_hub_down(
    hub_process: Callable[..., HubProcess], buttons: Buttons, tmp_path: Path
) -> None:
    hook = HttpRecorder()
    try:
        _seed(tmp_path / "hub.db")
        hub = hub_process(
            {
                "CHUONG_CONFIG": str(_config(tmp_path / "hub.toml", hook)),
                "CHUONG_HTTP__REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
            },
            open_files=OPEN_FILES,
        ).start()
        await hub.wait_ready()
        assert hub.process is not None
        pid = hub.process.pid
        button = await buttons("bank-1")
        probes: list[bool] = []
        descriptors: list[int] = []
        attack_over = asyncio.Event()

        async def probe() -> None:
            limits = httpx.Limits(max_keepalive_connections=0)  # a new connection each time
            async with httpx.AsyncClient(base_url=hub.url, timeout=5, limits=limits) as client:
                while not attack_over.is_set():
                    try:
                        probes.append((await client.get("/healthz")).status_code == 200)
                    except httpx.HTTPError:
                        probes.append(False)
                    descriptors.append(_descriptors(pid))
                    await asyncio.sleep(PROBE_EVERY_S)

        prober = asyncio.create_task(probe())
        answers: list[bytes | None] = []
        delivered_after: list[float] = []
        for wave in range(WAVES):
            attack = [
                asyncio.create_task(_attacker(hub.http_port, SOURCES[n % len(SOURCES)]))
                for n in range(CONNECTIONS)
            ]
            await asyncio.sleep(1)  # the attack is under way
            if wave == 0:
                press = await button.press()
                await button.wait_ack(press.event_id, "received", timeout=30)
                (arrived,) = await hook.wait(1, "/hook", timeout=60)
                delivered_after.append(arrived.at - press.sent_at)
            answers += await asyncio.gather(*attack)
        attack_over.set()
        await prober

        closed = [a for a in answers if a is not None]
        timed_out = [a for a in closed if a.startswith(b"HTTP/1.1 408")]
        answered = sum(probes) / len(probes)
        print(
            f"\n{WAVES} waves of {CONNECTIONS} half-open connections: {len(closed)} closed by the"
            f" server ({len(timed_out)} with 408, the others pushed out); /healthz answered"
            f" {sum(probes)} of {len(probes)} probes ({answered:.0%}); webhook"
            f" {delivered_after[0]:.2f} s after the press; at most {max(descriptors)}"
            f" descriptors open (limit {OPEN_FILES[0]})"
        )
        assert len(closed) == CONNECTIONS * WAVES, "every attacking connection closed by the hub"
        assert timed_out, "the connections that stayed were closed by the request deadline"
        assert len(probes) >= 20
        assert answered >= PROBES_ANSWERED, probes
        assert delivered_after[0] < DELIVERY_BOUND_S
        assert max(descriptors) < OPEN_FILES[0] - 200, "descriptors left for the store and outbox"
        async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
            assert (await client.get("/readyz")).status_code == 200
            alarms = await client.get("/api/v1/alarms")  # refused, but answered
            assert alarms.status_code == 401
            metrics = (await client.get("/metrics")).text
        assert "chuong_http_accept_errors_total 0.0" in metrics
        log = hub.log()
        assert "Too many open files" not in log
        assert "Traceback" not in log
        http_lines = [line for line in log.splitlines() if "http:" in line]
        assert len(http_lines) < 20 * WAVES, http_lines[-20:]
        assert _open_file_limits(pid) == OPEN_FILES
    finally:
        hook.close()


ROUTE_FAMILIES: Final = {
    "login": ("POST", "/login"),
    "alarm action": ("POST", "/api/v1/alarms/x/resolve"),
    "registry": ("POST", "/api/v1/devices"),
    "trouble": ("POST", "/api/v1/troubles/1/clear"),
    "session": ("DELETE", "/api/v1/session"),
    "phone link": ("POST", "/ack/x/boss/1/abc"),
    "page": ("POST", "/"),
}


async def _send_body(port: int, head: bytes, total: int, *, chunked: bool) -> tuple[bytes, int]:
    """Send the head, then up to `total` bytes of body until the server closes: (the server's
    answer, the bytes of body the kernel took). With a length, the answer is read before any of
    the body is sent: the server gives it on the head alone."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    answer = b""
    if not chunked:
        answer = await asyncio.wait_for(reader.read(), 30)
    chunk = b"x" * MIB
    piece = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
    sent = 0
    with contextlib.suppress(ConnectionError, TimeoutError):
        while sent < total:
            writer.write(piece)
            await asyncio.wait_for(writer.drain(), 30)
            sent += len(chunk)
    if chunked:
        with contextlib.suppress(ConnectionError, TimeoutError):
            answer = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    return answer, sent


async def test_huge_bodies_are_refused_before_they_are_read(
    hub_process: Callable[..., HubProcess], tmp_path: Path
) -> None:
    _seed(tmp_path / "hub.db")
    hub = hub_process().start()
    await hub.wait_ready()
    assert hub.process is not None
    pid = hub.process.pid
    token = _admin_token(hub)
    rss_before = _status_kib(pid, "VmRSS") * 1024
    peak_before = _status_kib(pid, "VmHWM") * 1024

    results: dict[str, tuple[bytes, int]] = {}
    for credentials in ("", f"Authorization: Bearer {token}\r\n"):
        for name, (method, path) in ROUTE_FAMILIES.items():
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: hub\r\n{credentials}"
                f"Content-Type: application/json\r\nContent-Length: {200 * MIB}\r\n\r\n"
            ).encode()
            key = f"{name}{' (admin)' if credentials else ''}"
            results[key] = await _send_body(hub.http_port, head, 200 * MIB, chunked=False)

    chunked_head = (
        b"POST /login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    together = await asyncio.gather(
        *(_send_body(hub.http_port, chunked_head, 250 * MIB, chunked=True) for _ in range(3))
    )
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as client:
        assert (await client.get("/healthz")).status_code == 200
    peak_after = _status_kib(pid, "VmHWM") * 1024
    print(
        f"\npeak memory {peak_before / MIB:.0f} MiB before, {peak_after / MIB:.0f} MiB after;"
        f" body bytes taken: at most {max(s for _, s in [*results.values(), *together]) / MIB:.0f}"
        " MiB of 200 MiB"
    )
    for name, (answer, sent) in results.items():
        assert answer.startswith(b"HTTP/1.1 413"), (name, answer[:200])
        assert b"larger than the limit" in answer, name
        assert sent < SENT_BOUND, (name, sent)
    for answer, sent in together:
        assert sent < SENT_BOUND, sent
        # the answer, or a reset that overtook it: the server closed on a client still sending
        assert answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert peak_after <= max(peak_before, rss_before + PEAK_GROWTH_BOUND)
    assert "Traceback" not in hub.log()
