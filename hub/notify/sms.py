"""sms: text messages through a GSM modem on a serial port, with AT commands in text mode.

    AT            → OK           (in step; tried three times, a modem may be asleep)
    ATE0          → OK           (no echo)
    AT+CPIN?      → +CPIN: READY (a SIM, unlocked)
    AT+CMGF=1     → OK           (text mode)
    AT+CSCS="UCS2" + AT+CSMP=17,167,0,8    Unicode: Vietnamese with its diacritics, 70 a message
    AT+CSCS="IRA"  + AT+CSMP=17,167,0,0    plain ASCII (GSM 7-bit), 160 a message
    AT+CMGS="<number>" → "> "  then the text and Ctrl-Z  → +CMGS: <ref>  OK

With `charset = "ucs2"` the text goes in UCS2 (hex, the number too) and the acknowledgement link
in a message of its own in ASCII, since text mode cannot join messages and a link does not fit in
70 characters. With `charset = "ascii"` everything is folded to ASCII (`đ` → `d`, accents
dropped), for modems that mangle Unicode. A text longer than one message is sent as several,
numbered `1/3`, `2/3`, ….

The port is opened for each notification (a modem that was unplugged and came back works again)
and used from a worker thread with its own deadline; a lock keeps two sends off the port.
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, Literal

import serial
from pydantic import Field, field_validator

from hub.notify.base import NotifierKind, NotifyError, Outgoing
from hub.notify.message import ascii_fold
from hub.notify.settings import PHONE_RE, NotifierSettings


class SmsNotifier(NotifierSettings):
    """Text messages through a GSM modem on a serial port (AT commands, text mode)."""

    type: Literal["sms"]
    port: str = Field(min_length=1, description="Serial device, e.g. /dev/ttyUSB2.")
    baudrate: int = Field(default=115200, ge=1200, le=4_000_000)
    to: str = Field(description="Phone number, e.g. +84901234567.")
    charset: Literal["ucs2", "ascii"] = Field(
        default="ucs2",
        description="ucs2 keeps Vietnamese diacritics (70 characters a message); ascii drops "
        "them (160 a message), for modems that mangle Unicode.",
    )
    timeout_s: float = Field(default=90.0, gt=0, le=600, description="Limit of one attempt.")

    @field_validator("to")
    @classmethod
    def _phone(cls, value: str) -> str:
        value = value.replace(" ", "")
        if not PHONE_RE.match(value):
            raise ValueError("must be a phone number: digits, optionally after '+'")
        return value


CTRL_Z: Final = b"\x1a"
UCS2_LIMIT: Final = 70
GSM_LIMIT: Final = 160
_FINAL_ERRORS: Final = ("ERROR", "+CME ERROR", "+CMS ERROR")
COMMAND_TIMEOUT_S: Final = 10.0
SUBMIT_TIMEOUT_S: Final = 60.0
"""A modem answers +CMGS once the network took the message: this can take a while."""


@dataclass(frozen=True, slots=True)
class Part:
    text: str
    ucs2: bool


def split(text: str, limit: int) -> list[str]:
    """Cut `text` into pieces of at most `limit` characters, at spaces where possible; with more
    than one piece, each starts with `k/n `."""
    if len(text) <= limit:
        return [text]
    room = limit - 6  # "k/n " for up to 9 parts, with a little margin
    pieces: list[str] = []
    current = ""
    for word in text.split():
        rest = word
        while len(rest) > room:  # a word longer than a message (never a link: it goes apart)
            if current:
                pieces.append(current)
                current = ""
            pieces.append(rest[:room])
            rest = rest[room:]
        candidate = f"{current} {rest}" if current else rest
        if len(candidate) > room:
            pieces.append(current)
            current = rest
        else:
            current = candidate
    if current:
        pieces.append(current)
    return [f"{n}/{len(pieces)} {piece}" for n, piece in enumerate(pieces, start=1)]


def compose(text: str, link: str | None, charset: str) -> list[Part]:
    if charset == "ascii":
        whole = ascii_fold(text if link is None else f"{text} {link}")
        return [Part(piece, ucs2=False) for piece in split(whole, GSM_LIMIT)]
    parts = [Part(piece, ucs2=True) for piece in split(text, UCS2_LIMIT)]
    if link is not None:
        parts.append(Part(link, ucs2=False))
    return parts


def ucs2_hex(text: str) -> str:
    return text.encode("utf-16-be").hex().upper()


class ModemError(Exception):
    pass


class PollSerial(serial.PosixPollSerial):  # type: ignore[misc]  # pyserial has no types
    """pyserial's port with poll() instead of select() for reads and timed writes.

    select() cannot watch a descriptor above 1,023 ("filedescriptor out of range"), and the hub
    under a flood of connections holds more than that (its unit allows 65,536): the modem's port,
    opened for each message, then lands above it. pyserial's `PosixPollSerial` polls its reads;
    its writes still select, so the write is done here the same way, with the same timeout.
    """

    def write(self, b: bytes, /) -> int:
        if not self.is_open or self.fd is None:
            raise serial.PortNotOpenError()
        data = memoryview(bytes(b))
        timeout = serial.Timeout(self._write_timeout)
        poll = select.poll()
        poll.register(self.fd, select.POLLOUT | select.POLLERR | select.POLLHUP | select.POLLNVAL)
        while data:
            left = timeout.time_left()
            events = poll.poll(None if left is None else max(left, 0.0) * 1000)
            if not events:
                raise serial.SerialTimeoutException("Write timeout")
            if any(
                event & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, event in events
            ):
                raise serial.SerialException("device reports error (poll)")
            try:
                written = os.write(self.fd, data)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise serial.SerialException(f"write failed: {exc}") from exc
            data = data[written:]
        return len(b)


class Modem:
    """A conversation with a modem over an open serial port (blocking)."""

    def __init__(self, port: serial.Serial, deadline: float) -> None:
        self._port = port
        self._deadline = deadline
        self._buffer = b""

    def command(self, line: str, timeout: float = COMMAND_TIMEOUT_S) -> list[str]:
        """Send one AT command; return the lines before OK, raise `ModemError` on an error."""
        self._write(line.encode("ascii") + b"\r")
        return self._final(line.split("=", maxsplit=1)[0], timeout)

    def submit(self, number: str, payload: bytes) -> str:
        self._write(f'AT+CMGS="{number}"\r'.encode("ascii"))
        self._read_until(lambda: b">" in self._buffer, COMMAND_TIMEOUT_S, "the '>' prompt")
        self._write(payload + CTRL_Z)
        lines = self._final("AT+CMGS", SUBMIT_TIMEOUT_S)
        return next((line for line in lines if line.startswith("+CMGS")), "+CMGS")

    def _write(self, data: bytes) -> None:
        self._buffer = b""
        self._port.write(data)
        self._port.flush()

    def _final(self, what: str, timeout: float) -> list[str]:
        lines: list[str] = []

        def finished() -> bool:
            for line in self._lines():
                if line == "OK":
                    return True
                if line.startswith(_FINAL_ERRORS):
                    raise ModemError(f"{what}: {line}")
                if line != "" and not line.startswith("AT"):  # an echo of our own command
                    lines.append(line)
            return False

        self._read_until(finished, timeout, f"an answer to {what}")
        return lines

    def _lines(self) -> Iterator[str]:
        while b"\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\n", 1)
            yield raw.strip().decode("ascii", "replace")

    def _read_until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        limit = min(self._deadline, time.monotonic() + timeout)
        while not done():
            if time.monotonic() > limit:
                raise ModemError(f"no {what} from the modem")
            self._buffer += self._port.read(self._port.in_waiting or 1)


class Sms:
    def __init__(self, config: SmsNotifier) -> None:
        self._config = config
        self._lock = threading.Lock()

    async def send(self, outgoing: Outgoing) -> str:
        parts = compose(outgoing.message.short, outgoing.link, self._config.charset)
        return await asyncio.to_thread(self._send_blocking, parts)

    def _send_blocking(self, parts: list[Part]) -> str:
        cfg = self._config
        deadline = time.monotonic() + cfg.timeout_s
        if not self._lock.acquire(timeout=cfg.timeout_s):
            raise NotifyError(f"{cfg.port}: still busy with the previous message")
        try:
            with PollSerial(cfg.port, cfg.baudrate, timeout=0.2, write_timeout=5) as port:
                return self._conversation(Modem(port, deadline), parts)
        except (serial.SerialException, OSError) as exc:
            raise NotifyError(f"{cfg.port}: {exc}") from None
        except ModemError as exc:
            raise NotifyError(f"{cfg.port}: {exc}") from None
        finally:
            self._lock.release()

    def _conversation(self, modem: Modem, parts: list[Part]) -> str:
        for attempt in range(3):
            try:
                modem.command("AT", timeout=2.0)
                break
            except ModemError:
                if attempt == 2:
                    raise
        modem.command("ATE0")
        sim = modem.command("AT+CPIN?")
        if not any("READY" in line for line in sim):
            raise ModemError(f"the SIM is not ready ({'; '.join(sim) or 'no answer'})")
        modem.command("AT+CMGF=1")
        references = []
        charset: bool | None = None
        for part in parts:
            if part.ucs2 is not charset:
                self._charset(modem, part.ucs2)
                charset = part.ucs2
            if part.ucs2:
                reference = modem.submit(ucs2_hex(self._config.to), ucs2_hex(part.text).encode())
            else:
                reference = modem.submit(self._config.to, part.text.encode("ascii", "replace"))
            references.append(reference)
        return ", ".join(references)

    @staticmethod
    def _charset(modem: Modem, ucs2: bool) -> None:
        if ucs2:
            modem.command('AT+CSCS="UCS2"')
            modem.command("AT+CSMP=17,167,0,8")
            return
        try:
            modem.command('AT+CSCS="IRA"')
        except ModemError:  # some modems know only "GSM", the same for plain text
            modem.command('AT+CSCS="GSM"')
        modem.command("AT+CSMP=17,167,0,0")

    async def close(self) -> None:
        return None


KIND: Final = NotifierKind(SmsNotifier, lambda config, tools: Sms(config))
"""The registry's entry (hub/notify/registry.py)."""
