"""The HTTP server's front door: slow, idle and too many clients cannot take the hub down.

uvicorn (h11) on its own keeps a connection open for as long as its client sends nothing (it only
times out an idle keep-alive connection *after* a response), accepts connections until the
process runs out of file descriptors, and asyncio then logs every failed `accept()`. So, on top
of uvicorn's h11 protocol:

- **A request deadline** (`http.request_timeout_s`): a request's line, headers and body must all
  have arrived within this time of its first byte (or of the connection's opening). Else the
  server answers 408 and closes the connection.
- **A cap on connections**, for the whole server (`http.max_connections`, lowered if the open-file
  limit would not leave room for the store, the outbox and the broker) and per client address
  (`http.max_connections_per_address`). A new connection over a cap takes the place of the oldest
  connection that is waiting for a request (idle, or half-sent); if every connection is busy with a
  request, the new one is answered 503 and closed. So a flood of half-open connections only ever
  pushes out older half-open connections, and `/healthz` and the page still get in.
- **A small accept batch**: the listening socket's backlog is `ACCEPT_BACKLOG`, which is also how
  many connections asyncio accepts in one go before the caps can close the extra ones.
- **The open-file limit** is raised to its hard limit when the hub starts (`raise_open_file_limit`).
- **No log flood**: `accept()` errors and uvicorn's per-request warnings are logged at most once per
  `LOG_EVERY_S` per kind, with the number left out, and counted in `/metrics`.

Every answer given here (400, 408, 503) is written by the protocol itself, with the hub's security
headers (`hub.api.headers`). This relies on uvicorn's `H11Protocol` internals: uvicorn is pinned in
pyproject.toml, and `tests/faults/test_front_door.py` fails if the behaviour changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from uvicorn.protocols.http.h11_impl import H11Protocol

from hub.api.headers import DATA_POLICY, DEFAULTS
from hub.metrics import Metrics

log = logging.getLogger(__name__)

FD_RESERVE: Final = 256
"""Descriptors kept for everything but HTTP clients: the store, the outbox's notifications, the
broker, logs, DNS."""
ACCEPT_BACKLOG: Final = 64
MIN_CONNECTIONS: Final = 16
LOG_EVERY_S: Final = 60.0
NOFILE_TARGET_MAX: Final = 1 << 20
"""The soft limit is raised to the hard limit, but not past this (an unlimited hard limit)."""


# -- the open-file limit -------------------------------------------------------------------------


def raise_open_file_limit() -> int:
    """Raise the soft limit on open files to the hard one; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    target = NOFILE_TARGET_MAX if hard == unlimited else min(hard, NOFILE_TARGET_MAX)
    if soft != unlimited and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning(
                "http: cannot raise the open-file limit from %d to %d: %s", soft, target, exc
            )
            return soft
        log.info("http: open-file limit raised from %d to %d", soft, target)
        return target
    return soft


def connection_cap(configured: int, open_file_limit: int) -> int:
    """The server's connection cap: as configured, but always leaving `FD_RESERVE` descriptors and
    an accept batch free under the open-file limit."""
    room = open_file_limit - FD_RESERVE - ACCEPT_BACKLOG
    return max(MIN_CONNECTIONS, min(configured, room))


# -- answers written by the protocol -------------------------------------------------------------

REASONS: Final = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Content Too Large",
    503: "Service Unavailable",
}


def raw_response(status: int, detail: str, *, retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 answer that closes the connection, with the hub's security headers."""
    body = json.dumps({"detail": detail}).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
        **DEFAULTS,
        "Content-Security-Policy": DATA_POLICY,
    }
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    head = f"HTTP/1.1 {status} {REASONS.get(status, '')}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    return head.encode("latin-1") + b"\r\n" + body


# -- rate-limited logging ------------------------------------------------------------------------


class LogLimiter:
    """At most one line per key every `every_s` seconds; the lines left out are counted and said
    with the next line of that key."""

    def __init__(self, every_s: float = LOG_EVERY_S, clock: Callable[[], float] = time.monotonic):
        self._every_s = every_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def allow(self, key: str) -> int | None:
        """None to leave the line out, else how many lines of this key were left out before it."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._every_s:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._skipped.pop(key, 0)


class _UvicornWarnings(logging.Filter):
    """uvicorn logs a warning per bad request ("Invalid HTTP request received.", an unsupported
    upgrade...): one of each kind per minute gets through."""

    def __init__(self, limiter: LogLimiter, on_skipped: Callable[[], None]) -> None:
        super().__init__()
        self._limiter = limiter
        self._on_skipped = on_skipped

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            return True
        skipped = self._limiter.allow(str(record.msg))
        if skipped is None:
            self._on_skipped()
            return False
        if skipped:
            record.msg = f"{record.msg} ({skipped} more like it in the last minute, not logged)"
        return True


def limit_uvicorn_warnings(limiter: LogLimiter, on_skipped: Callable[[], None]) -> None:
    """Put the filter on uvicorn's log (in place of one put there by an earlier server)."""
    logger = logging.getLogger("uvicorn.error")
    for old in [f for f in logger.filters if isinstance(f, _UvicornWarnings)]:
        logger.removeFilter(old)
    logger.addFilter(_UvicornWarnings(limiter, on_skipped))


class AcceptErrors:
    """asyncio reports a failed `accept()` (out of descriptors or memory) to the loop's exception
    handler, once per connection waiting, every time it retries: counted, and logged once a
    minute. Anything else goes to the handler that was there before."""

    MESSAGE: Final = "socket.accept() out of system resource"

    def __init__(self, metrics: Metrics, limiter: LogLimiter) -> None:
        self._metrics = metrics
        self._limiter = limiter
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: Any = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self._handle)

    def uninstall(self) -> None:
        if self._loop is not None and self._loop.get_exception_handler() == self._handle:
            self._loop.set_exception_handler(self._previous)
        self._loop = None

    def _handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith(self.MESSAGE):
            self._metrics.http_accept_errors.inc()
            skipped = self._limiter.allow("accept")
            if skipped is not None:
                log.error(
                    "http: cannot accept connections: %s (%d more in the last minute, not logged)",
                    context.get("exception"),
                    skipped,
                )
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)


# -- the connection guard ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    max_connections: int
    max_per_address: int
    request_timeout_s: float


class Guard:
    """The connections of one server: counted per address, and the order in which those waiting
    for a request started to wait (the first to be pushed out)."""

    def __init__(self, limits: Limits, metrics: Metrics, limiter: LogLimiter) -> None:
        self.limits = limits
        self._metrics = metrics
        self._limiter = limiter
        self._per_address: dict[str, int] = {}
        self._open: set[GuardedProtocol] = set()
        self._waiting: dict[GuardedProtocol, None] = {}  # insertion order: oldest first

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def admit(self, conn: GuardedProtocol) -> str | None:
        """Count a new connection in, making room if a cap is reached; else say why not."""
        limits = self.limits
        if self._per_address.get(conn.address, 0) >= limits.max_per_address:
            victim = next((c for c in self._waiting if c.address == conn.address), None)
            if victim is None:
                return self._refused(conn, "address_full", "too many connections from this address")
            victim.push_out()
        elif len(self._open) >= limits.max_connections:
            victim = next(iter(self._waiting), None)
            if victim is None:
                return self._refused(conn, "server_full", "the server has too many connections")
            victim.push_out()
        self._open.add(conn)
        self._per_address[conn.address] = self._per_address.get(conn.address, 0) + 1
        self._metrics.http_connections.set(len(self._open))
        return None

    def _refused(self, conn: GuardedProtocol, reason: str, detail: str) -> str:
        self._metrics.http_connections_closed.labels(reason).inc()
        self.note(reason, f"http: refused a connection from {conn.address}: {detail}")
        return detail

    def waiting(self, conn: GuardedProtocol) -> None:
        """The connection waits for a request (again): it may be pushed out, the oldest first."""
        if conn in self._open:
            self._waiting.pop(conn, None)
            self._waiting[conn] = None

    def busy(self, conn: GuardedProtocol) -> None:
        self._waiting.pop(conn, None)

    def release(self, conn: GuardedProtocol) -> None:
        if conn not in self._open:
            return
        self._open.discard(conn)
        self._waiting.pop(conn, None)
        left = self._per_address[conn.address] - 1
        if left:
            self._per_address[conn.address] = left
        else:
            del self._per_address[conn.address]
        self._metrics.http_connections.set(len(self._open))

    def closed(self, reason: str, message: str) -> None:
        self._metrics.http_connections_closed.labels(reason).inc()
        self.note(reason, message)

    def note(self, key: str, message: str) -> None:
        skipped = self._limiter.allow(key)
        if skipped is not None:
            suffix = f" ({skipped} more in the last minute, not logged)" if skipped else ""
            log.warning("%s%s", message, suffix)


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with the request deadline and the caps (made per server by
    `protocol_for`, which sets `guard`)."""

    guard: ClassVar[Guard]

    address: str = ""
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.address = self.client[0] if self.client else "unknown"
        refusal = self.guard.admit(self)
        if refusal is not None:
            transport.write(raw_response(503, refusal, retry_after=1))
            transport.close()
            return
        self.guard.waiting(self)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and not self._in_request():
            self._arm()  # the first bytes of a new request on a kept-alive connection
        super().data_received(data)
        cycle = self.cycle
        if cycle is not None and not cycle.more_body and not cycle.response_complete:
            self._disarm()  # the whole request is in: the application has it
            self.guard.busy(self)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self._in_request():
            self.guard.waiting(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.guard.release(self)
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self.transport.write(raw_response(400, msg))
        self.transport.close()

    def push_out(self) -> None:
        """Make room for a newer connection: this one was waiting for a request the longest."""
        self._disarm()
        self.guard.release(self)
        self.guard.closed("pushed_out", "http: closed the oldest waiting connection for a new one")
        if self.cycle is not None and not self.cycle.response_started:  # a half-sent body
            self.transport.write(raw_response(503, "the server has too many connections"))
        self.transport.close()

    def _in_request(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.guard.limits.request_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self.guard.closed(
            "timeout", f"http: closed a connection from {self.address}: request not sent in time"
        )
        if self.cycle is None or not self.cycle.response_started:
            seconds = self.guard.limits.request_timeout_s
            self.transport.write(raw_response(408, f"the request was not sent within {seconds:g}s"))
        self.transport.close()


def protocol_for(guard: Guard) -> type[GuardedProtocol]:
    return type("GuardedH11Protocol", (GuardedProtocol,), {"guard": guard})
