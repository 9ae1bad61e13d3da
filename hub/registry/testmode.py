"""Test mode's automatic end: a part of its own that always runs (supervision may be disabled).

Every `interval_s` (1 s) it compares the hub's clock with the earliest end of a test mode in the
registry as the event loop sees it; the earliest end is worked out again only when the registry
changes (every change replaces the registry object), so a quiet hub does nothing but one
comparison a second. When an end has come, `SetTestMode(..., False, "hub")` goes through the
pipeline like an admin's change: committed with its audit entry (`registry.test_mode`, actor
`hub`), the page told at once. It is never on the press path: a press planned after the end and
before this part has turned the flag off is already real (`Site.testing`, `Button.testing`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Final

from hub.clock import Clock
from hub.domain.state import Registry
from hub.errors import ChuongError, RegistryNotFound
from hub.registry.commands import SetTestMode
from hub.store.ops import TestModeKind
from hub.writer.pipeline import Pipeline

log = logging.getLogger(__name__)

INTERVAL_S: Final = 1.0


def ends_of(registry: Registry) -> list[tuple[datetime, TestModeKind, str]]:
    """Every test mode with an end, soonest first."""
    found: list[tuple[datetime, TestModeKind, str]] = [
        (site.test_until, "site", site.id)
        for site in registry.sites.values()
        if site.test_mode and site.test_until is not None
    ]
    found += [
        (button.test_until, "button", button.id)
        for button in registry.buttons.values()
        if button.test_mode and button.test_until is not None
    ]
    return sorted(found)


class TestModeEnder:
    __test__ = False  # not a pytest class

    def __init__(self, *, pipeline: Pipeline, clock: Clock, interval_s: float = INTERVAL_S) -> None:
        self._pipeline = pipeline
        self._clock = clock
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._seen: Registry | None = None
        self._earliest: datetime | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="test-mode-ender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.end_due(self._clock.now())
            except ChuongError as exc:
                log.warning("test mode: could not end one: %s", exc)
            except Exception:
                log.exception("test mode: could not end one")

    async def end_due(self, now: datetime) -> int:
        """Turn off every test mode whose end has come; return how many."""
        registry = self._pipeline.state.registry
        if registry is not self._seen:
            self._seen = registry
            ends = ends_of(registry)
            self._earliest = ends[0][0] if ends else None
        if self._earliest is None or self._earliest > now:
            return 0
        ended = 0
        for until, kind, subject in ends_of(registry):
            if until > now:
                break
            try:
                await self._pipeline.execute(SetTestMode(kind, subject, False, "hub"))
            except RegistryNotFound:
                continue  # removed meanwhile
            ended += 1
            log.info("test mode: %s %s ended by itself", kind, subject)
        self._seen = None  # work the earliest end out again from the new registry
        return ended
