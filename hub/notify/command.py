"""command: run a local program (a loud sound, a relay, a gateway of one's own), without a shell.

The message text is written to its standard input; the details are in its environment:
CHUONG_EVENT (alarm, clear, trouble), CHUONG_DELIVERY, CHUONG_ALARM_ID, CHUONG_LEVEL,
CHUONG_SITE_ID, CHUONG_TITLE, CHUONG_ACK_URL (when there is one). Exit status 0 is a delivery;
any other status, or running past `timeout_s` (the program is then killed), is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Final, Literal

from pydantic import Field

from hub.notify.base import NotifierKind, NotifyError, Outgoing
from hub.notify.settings import NotifierSettings


class CommandNotifier(NotifierSettings):
    """A local program (a loud sound, a relay); the message on stdin, details in CHUONG_*."""

    type: Literal["command"]
    argv: list[str] = Field(min_length=1, description="Program and arguments (no shell).")

    @property
    def local(self) -> bool:
        return True


OUTPUT_KEEP = 300


class Program:
    def __init__(self, config: CommandNotifier) -> None:
        self._config = config

    async def send(self, outgoing: Outgoing) -> str:
        cfg = self._config
        alarm = outgoing.alarm
        env = {
            **os.environ,
            "CHUONG_EVENT": outgoing.event,
            "CHUONG_DELIVERY": outgoing.key,
            "CHUONG_TITLE": outgoing.message.title,
            "CHUONG_ALARM_ID": alarm.id if alarm else "",
            "CHUONG_LEVEL": str(alarm.level) if alarm else "",
            "CHUONG_SITE_ID": alarm.site.id if alarm and alarm.site else "",
            "CHUONG_ACK_URL": outgoing.link or "",
        }
        try:
            process = await asyncio.create_subprocess_exec(
                *cfg.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
            )
        except OSError as exc:
            raise NotifyError(f"cannot run {cfg.argv[0]}: {exc.strerror or exc}") from None
        try:
            output, _ = await asyncio.wait_for(
                process.communicate(outgoing.message.text.encode()), cfg.timeout_s
            )
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise NotifyError(f"{cfg.argv[0]} ran over {cfg.timeout_s:g}s and was killed") from None
        tail = output.decode(errors="replace").strip()[-OUTPUT_KEEP:]
        if process.returncode != 0:
            raise NotifyError(f"{cfg.argv[0]} exited with {process.returncode}: {tail}")
        return f"exit 0{': ' + tail if tail else ''}"

    async def close(self) -> None:
        return None


KIND: Final = NotifierKind(CommandNotifier, lambda config, tools: Program(config))
"""The registry's entry (hub/notify/registry.py)."""
