"""`chuong run`: the daemon's main loop, with signals handled the uvicorn way.

The first SIGTERM or SIGINT asks for a clean stop: drain, acknowledge what is committed, publish
the hub's clean `offline` status, exit 0. A stop that takes longer than `hub.shutdown_timeout_s`
is forced (exit 1). A second signal forces the exit at once: whatever is not acknowledged stays
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
        await stop.wait()
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
