"""A fleet of virtual buttons pressing now and then: for `chuong sim` and `chuong demo`."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from simulator.button import REPEAT_S, ButtonError, Press, VirtualButton

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PressReport:
    button: str
    press: Press
    ack_ms: float | None
    """press → `received` ack from the hub, in milliseconds; None if it did not come in time"""


class Fleet:
    def __init__(
        self,
        ids: Sequence[str],
        *,
        host: str,
        port: int,
        root: str,
        credentials: dict[str, str] | None = None,
        seed: int | None = None,
        repeat_s: float | None = REPEAT_S,
    ) -> None:
        """`repeat_s`: each button presses again (same id) that often until it hears
        `received`, as the reference button does; None for plain QoS 1 buttons."""
        self.buttons = [
            VirtualButton(
                button_id,
                host=host,
                port=port,
                root=root,
                username=button_id if credentials else None,
                password=credentials.get(button_id) if credentials else None,
                repeat_s=repeat_s,
            )
            for button_id in ids
        ]
        self._random = random.Random(seed)  # noqa: S311  # simulation, not security

    async def connect(self) -> None:
        await asyncio.gather(*(button.connect() for button in self.buttons))

    async def close(self) -> None:
        await asyncio.gather(
            *(button.go_offline() for button in self.buttons), return_exceptions=True
        )

    async def press_one(self, button: VirtualButton, ack_timeout: float = 5.0) -> PressReport:
        press = await button.press()
        try:
            ack = await button.wait_ack(press.event_id, "received", ack_timeout)
        except TimeoutError:
            return PressReport(button.id, press, None)
        return PressReport(button.id, press, (ack.at - press.sent_at) * 1000)

    async def run(
        self,
        *,
        press_every: float,
        heartbeat_every: float | None = 60.0,
        duration: float | None = None,
        count: int | None = None,
        on_press: Callable[[PressReport], None] | None = None,
    ) -> int:
        """Random buttons press, on average once every `press_every` seconds (a Poisson process);
        every button sends a heartbeat every `heartbeat_every` seconds. With `count`, the first
        press is at once and the run ends after `count` presses. Returns presses made."""
        deadline = None if duration is None else time.monotonic() + duration
        beats = None
        if heartbeat_every:
            beats = asyncio.create_task(self._heartbeats(heartbeat_every), name="fleet-heartbeats")
        presses = 0
        pending: set[asyncio.Task[PressReport]] = set()
        try:
            while (deadline is None or time.monotonic() < deadline) and (
                count is None or presses < count
            ):
                wait = self._random.expovariate(1 / press_every)
                if count is not None and presses == 0:
                    wait = 0.0
                if deadline is not None:
                    wait = min(wait, max(0.0, deadline - time.monotonic()))
                await asyncio.sleep(wait)
                if deadline is not None and time.monotonic() >= deadline:
                    break
                button = self._random.choice(self.buttons)
                task = asyncio.create_task(self.press_one(button))
                pending.add(task)
                task.add_done_callback(pending.discard)
                if on_press is not None:
                    task.add_done_callback(
                        lambda t: on_press(t.result()) if not t.exception() else None
                    )
                presses += 1
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        finally:
            if beats is not None:
                beats.cancel()
        return presses

    async def _heartbeats(self, every: float) -> None:
        while True:
            for button in self.buttons:
                try:
                    await button.heartbeat(
                        battery=self._random.randint(60, 100), rssi=self._random.randint(-80, -40)
                    )
                except ButtonError:
                    log.warning("fleet: %s could not send a heartbeat", button.id)
            await asyncio.sleep(every)
