"""A notification service that hangs must not slow a single press down.

The webhook and ntfy targets are a real loopback server that accepts every connection and never
reads or answers (the hub's notifiers wait up to their `timeout_s`, 120 s). While both hang, a
burst of presses from many buttons arrives: every press is committed and every button hears
`received` within a generous bound, a healthy notifier still delivers for every alarm, and
`/readyz` stays 200 throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import httpx

from hub.clock import SystemClock
from hub.registry.file import ButtonEntry, RegistryFile, SiteEntry, import_registry
from hub.store.db import open_sync
from simulator.button import VirtualButton
from tests.conftest import HubProcess, wait_for
from tests.integration.notify.loopback import HttpRecorder

Buttons = Callable[..., Awaitable[VirtualButton]]

BUTTONS: Final = 20
PRESSES_EACH: Final = 3
HUNG_TIMEOUT_S: Final = 120
PAUSE_S: Final = 0.3
ACK_BOUND_S: Final = 5.0
"""Generous: a press answered within it did not wait on a service that holds for 120 s."""


class HangingServer:
    """Accepts every connection, then neither reads nor answers: a service that hangs."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    @property
    def accepted(self) -> int:
        return len(self._held)

    def _accept(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                connection, _ = self._listener.accept()
                self._held.append(connection)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for connection in self._held:
            connection.close()


def _config(path: Path, hung: HangingServer, good: HttpRecorder) -> Path:
    path.write_text(
        f"""
[notifiers.hook]
type = "webhook"
url = "{hung.url}/hook"
timeout_s = {HUNG_TIMEOUT_S}

[notifiers.phone]
type = "ntfy"
url = "{hung.url}"
topic = "truc-ban"
timeout_s = {HUNG_TIMEOUT_S}

[notifiers.good]
type = "webhook"
url = "{good.url}/good"
timeout_s = 5

[[escalation.steps]]
after_s = 0
notify = ["hook", "phone", "good"]
""",
        encoding="utf-8",
    )
    return path


def _registry() -> RegistryFile:
    """One button per site: every button's first press raises an alarm of its own."""
    return RegistryFile(
        sites=[SiteEntry(id=f"site-{n:02d}", name=f"Cơ sở {n}") for n in range(BUTTONS)],
        buttons=[ButtonEntry(id=f"btn-{n:02d}", site=f"site-{n:02d}") for n in range(BUTTONS)],
    )


def _histogram(metrics: str, name: str) -> dict[str, float]:
    """The buckets of a Prometheus histogram, by their `le`, and its `count`."""
    found = {
        le: float(value)
        for le, value in re.findall(rf'^{name}_bucket\{{le="([^"]+)"\}} (\S+)$', metrics, re.M)
    }
    found["count"] = float(re.findall(rf"^{name}_count (\S+)$", metrics, re.M)[0])
    return found


async def _press_and_hear(button: VirtualButton) -> float:
    """Press; seconds from the press to the button hearing `received`."""
    press = await button.press()
    ack = await button.wait_ack(press.event_id, "received", timeout=3 * ACK_BOUND_S)
    return ack.at - press.sent_at


async def _keep_pressing(button: VirtualButton, times: int) -> list[float]:
    """Press `times` times, PAUSE_S apart (the caller who keeps pressing): the latencies."""
    heard = []
    for _ in range(times):
        heard.append(await _press_and_hear(button))
        await asyncio.sleep(PAUSE_S)
    return heard


async def test_a_hanging_notification_service_holds_back_no_press(
    hub_process: Callable[..., HubProcess], buttons: Buttons, tmp_path: Path
) -> None:
    """While the webhook and ntfy services hang (connection accepted, never answered, 120 s
    limit), 20 buttons press together, 3 times each over a second: every press is committed and
    heard as `received` within 5 s, the healthy webhook is delivered for all 20 alarms, /readyz
    answers 200 throughout, no commit waited 5 s (chuong_ingest_seconds), and the hung calls are
    still outstanding at the end."""
    hung, good = HangingServer(), HttpRecorder()
    try:
        with contextlib.closing(open_sync(tmp_path / "hub.db")) as conn:
            import_registry(conn, _registry(), SystemClock().now())
        config = _config(tmp_path / "hub.toml", hung, good)
        hub = hub_process({"CHUONG_CONFIG": str(config)}).start()
        await hub.wait_ready()
        fleet = await asyncio.gather(*(buttons(f"btn-{n:02d}") for n in range(BUTTONS)))

        await _press_and_hear(fleet[0])  # the first alarm: both hung services now hold a call
        await wait_for(lambda: hung.accepted >= 2, timeout=10)
        await good.wait(1, "/good")
        readiness: list[int] = []
        burst_done = asyncio.Event()

        async def watch_readiness() -> None:
            async with httpx.AsyncClient(base_url=hub.url, timeout=5) as client:
                while not burst_done.is_set():
                    readiness.append((await client.get("/readyz")).status_code)
                    await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch_readiness())
        pressed = await asyncio.gather(*(_keep_pressing(b, PRESSES_EACH) for b in fleet))
        latencies = [latency for each in pressed for latency in each]
        await good.wait(BUTTONS, "/good", timeout=30)
        burst_done.set()
        await watcher

        assert len(latencies) == BUTTONS * PRESSES_EACH
        assert max(latencies) < ACK_BOUND_S, sorted(latencies)[-5:]
        assert readiness, "/readyz was asked during the burst"
        assert set(readiness) == {200}
        async with httpx.AsyncClient(base_url=hub.url, timeout=5) as client:
            ingest = _histogram((await client.get("/metrics")).text, "chuong_ingest_seconds")
        assert ingest["count"] >= 1 + BUTTONS * PRESSES_EACH
        assert ingest["5.0"] == ingest["count"], ingest

        uri = f"file:{hub.db}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            presses = db.execute("SELECT count(*) FROM presses").fetchone()[0]
            alarms = db.execute("SELECT count(*) FROM alarms").fetchone()[0]
            outbox = db.execute(
                "SELECT notifier, state, attempts, last_error IS NULL FROM outbox "
                "WHERE event = 'alarm' ORDER BY seq"
            ).fetchall()
        assert (presses, alarms) == (1 + BUTTONS * PRESSES_EACH, BUTTONS)
        delivered = [row for row in outbox if row[0] == "good"]
        assert [row[1] for row in delivered] == ["delivered"] * BUTTONS
        for notifier in ("hook", "phone"):
            in_flight = [row[1:] for row in outbox if row[0] == notifier and row[2] > 0]
            assert in_flight == [("pending", 1, 1)], f"{notifier}: its one call still hangs"
        assert hung.accepted == 2
    finally:
        hung.close()
        good.close()
