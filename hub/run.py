"""`chuong run`: the daemon's main loop, with signals handled the uvicorn way.

The first SIGTERM or SIGINT asks for a clean stop: drain, acknowledge what is committed, publish
the hub's clean `offline` status, exit 0. A stop that takes longer than `hub.shutdown_timeout_s`
is forced (exit 1). A hub that another took the store from (docs/HA.md) exits 75 at once, without
a clean stop (it no longer speaks for the post); systemd starts it again, as the standby. A second
signal forces the exit at once: whatever is not acknowledged stays
with the broker, which delivers it again to the next hub, so even a forced exit loses nothing.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal

from hub import sdnotify
from hub.app import Hub
from hub.config import Config
from hub.errors import ChuongError

log = logging.getLogger(__name__)

EXIT_SUPERSEDED = 75
"""The exit status of a hub that lost the store to another (EX_TEMPFAIL): systemd starts it
again, and it waits as the standby (docs/HA.md)."""


def freeze_startup_objects() -> None:
    """What the start loaded (modules, the registry, the open alarms) lives as long as the hub:
    moved out of the garbage collector's sight, an occasional full collection no longer walks it
    on the event loop, holding the presses behind it (docs/BENCHMARKS.md, "Stalls")."""
    gc.collect()
    gc.freeze()


async def serve(config: Config, *, stop: asyncio.Event | None = None) -> int:
    """Run a hub until a signal (or `stop`) arrives; return the exit status."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            log.error(
                "hub: second %s: forcing exit now; the broker keeps what is not acknowledged", name
            )
            os._exit(1)
        log.info("hub: %s received: stopping cleanly (send it again to force)", name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)

    hub = Hub(config)
    try:
        try:
            await hub.start()
        except ChuongError as exc:
            log.error("hub: cannot start: %s", exc)
            return 1
        freeze_startup_objects()
        stopping = asyncio.create_task(stop.wait())
        superseded = asyncio.create_task(hub.superseded.wait())
        await asyncio.wait({stopping, superseded}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        superseded.cancel()
        if hub.superseded.is_set() and not stop.is_set():
            # Off the broker already; nothing unacknowledged is lost (the broker keeps it).
            # No clean stop: it would publish, and this hub no longer speaks for the post.
            log.error(
                "hub: another hub took the store over: exiting (%d) to start again as a standby",
                EXIT_SUPERSEDED,
            )
            logging.shutdown()
            os._exit(EXIT_SUPERSEDED)
        sdnotify.notify("STOPPING=1")
        try:
            await asyncio.wait_for(hub.stop(), config.hub.shutdown_timeout_s)
        except TimeoutError:
            log.error("hub: clean stop took over %.0fs; forcing it", config.hub.shutdown_timeout_s)
            hub.abandon()
            return 1
        log.info("hub: stopped")
        return 0
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
