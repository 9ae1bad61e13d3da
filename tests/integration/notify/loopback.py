"""Real services on loopback that stand in for the ones notifiers talk to.

- `HttpRecorder`: an HTTP server (stdlib, in a thread) that records every request (method, path,
  headers, body) and answers from a script: a status, a body, an optional delay (a hung service).
  It stands in for a webhook receiver, an ntfy server and the Telegram Bot API.
- `FakeModem`: a GSM modem on a pseudo-terminal, answering AT commands the way a real one does
  (echo until ATE0, `> ` prompt after AT+CMGS, Ctrl-Z ends the text, `+CMGS: <n>` then `OK`).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    """lower-case names"""
    body: bytes
    at: float
    """time.monotonic() when it arrived"""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b'{"ok":true}'
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class HttpRecorder:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.script: deque[Answer] = deque()
        self.default = Answer()
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with recorder._lock:
                    recorder.requests.append(
                        Recorded(
                            "POST",
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                        )
                    )
                    answer = recorder.script.popleft() if recorder.script else recorder.default
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer.body)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:
                    pass  # the client gave up waiting (a hung service): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def then(self, *answers: Answer) -> HttpRecorder:
        """Answer the next requests with these, in order (then with `default`)."""
        with self._lock:
            self.script.extend(answers)
        return self

    def on(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    async def wait(
        self, count: int, path: str | None = None, timeout: float = 20.0
    ) -> list[Recorded]:
        """Wait until `count` requests (to `path`, if given) arrived; fail the test otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [r for r in self.requests if path is None or r.path == path]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                pytest.fail(f"{count} requests to {path or self.url} expected, got {len(found)}")
            await asyncio.sleep(0.02)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def http_recorder() -> Iterator[Callable[[], HttpRecorder]]:
    """Make recording HTTP servers on loopback; all are shut down after the test."""
    made: list[HttpRecorder] = []

    def make() -> HttpRecorder:
        recorder = HttpRecorder()
        made.append(recorder)
        return recorder

    yield make
    for recorder in made:
        recorder.close()


@dataclass
class ModemLog:
    commands: list[str] = field(default_factory=list)
    """every AT command line, in order"""
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    """(the AT+CMGS line, the text bytes before Ctrl-Z)"""


class FakeModem:
    """A GSM modem on a pseudo-terminal. `port` is the device the notifier opens."""

    def __init__(
        self, *, fail_cmgs: str | None = None, charsets: tuple[str, ...] = ("GSM", "IRA", "UCS2")
    ) -> None:
        self.master, self.slave = os.openpty()
        self.port = os.ttyname(self.slave)
        self.log = ModemLog()
        self.fail_cmgs = fail_cmgs
        self.charsets = charsets
        self._echo = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _write(self, data: bytes) -> None:
        os.write(self.master, data)

    def _serve(self) -> None:
        buffer = b""
        text_for: str | None = None
        while not self._stop.is_set():
            try:
                chunk = os.read(self.master, 1024)
            except OSError:
                return
            buffer += chunk
            while True:
                if text_for is not None:
                    if b"\x1a" not in buffer:
                        break
                    text, buffer = buffer.split(b"\x1a", 1)
                    self.log.messages.append((text_for, text))
                    text_for = None
                    if self.fail_cmgs:
                        self._write(f"\r\n{self.fail_cmgs}\r\n".encode())
                    else:
                        self._write(f"\r\n+CMGS: {len(self.log.messages)}\r\n\r\nOK\r\n".encode())
                    continue
                if b"\r" not in buffer:
                    break
                line, buffer = buffer.split(b"\r", 1)
                command = line.strip().decode("ascii", "replace")
                if not command:
                    continue
                self.log.commands.append(command)
                if self._echo:
                    self._write(line + b"\r")
                text_for = self._answer(command)

    def _answer(self, command: str) -> str | None:
        upper = command.upper()
        if upper == "ATE0":
            self._echo = False
            self._write(b"\r\nOK\r\n")
        elif upper == "AT+CPIN?":
            self._write(b"\r\n+CPIN: READY\r\n\r\nOK\r\n")
        elif upper.startswith("AT+CSCS="):
            charset = command.split("=", 1)[1].strip('"')
            self._write(b"\r\nOK\r\n" if charset in self.charsets else b"\r\nERROR\r\n")
        elif upper.startswith("AT+CMGS="):
            self._write(b"\r\n> ")
            return command
        elif upper.startswith("AT"):
            self._write(b"\r\nOK\r\n")
        else:
            self._write(b"\r\nERROR\r\n")
        return None

    def close(self) -> None:
        self._stop.set()
        os.close(self.slave)  # with no slave left open, the read in the thread ends (EIO)
        self._thread.join(5)
        os.close(self.master)
