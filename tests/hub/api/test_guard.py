"""The front door's pure parts: the open-file limit, the connection cap, rate-limited logging, the
accept-error handler, the answers the protocol writes. (The protocol itself is tested against a
real server: tests/integration/test_front_door.py, tests/faults/test_front_door.py.)"""

from __future__ import annotations

import asyncio
import logging
import resource
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from hub.api.guard import (
    FD_RESERVE,
    MIN_CONNECTIONS,
    AcceptErrors,
    LogLimiter,
    connection_cap,
    limit_uvicorn_warnings,
    raw_response,
)
from hub.metrics import Metrics


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_soft_open_file_limit_is_raised_to_the_hard_one() -> None:
    """In a process started with a soft limit of 256 under this machine's hard limit, the hub's
    start-up call raises the soft limit to the hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard == resource.RLIM_INFINITY or hard > 256, f"the hard limit here is only {hard}"
    script = textwrap.dedent(
        """
        import resource
        from hub.api.guard import raise_open_file_limit
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert soft == 256, soft
        print(raise_open_file_limit(), resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)),
        capture_output=True,
        text=True,
        check=True,
    )
    returned, soft_now, hard_now = (int(n) for n in result.stdout.split())
    assert returned == soft_now == min(hard_now, 1 << 20)


def test_the_connection_cap_leaves_room_under_the_open_file_limit() -> None:
    assert connection_cap(256, 1 << 20) == 256
    assert connection_cap(256, 1024) == 256  # 1,024 - 256 - 64 = 704
    assert connection_cap(1000, 1024) == 1024 - FD_RESERVE - 64
    assert connection_cap(256, 300) == MIN_CONNECTIONS


def test_a_log_limiter_lets_one_line_a_minute_per_key_and_counts_the_others() -> None:
    clock = FakeClock()
    limiter = LogLimiter(60, clock)
    assert limiter.allow("a") == 0
    assert [limiter.allow("a") for _ in range(5)] == [None] * 5
    assert limiter.allow("b") == 0  # another kind is not held back
    clock.now += 60
    assert limiter.allow("a") == 5
    assert limiter.allow("a") is None


async def test_accept_errors_are_counted_and_logged_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """10,000 failed accepts: all counted, one log line; any other loop error still reaches the
    handler that was there before; uninstalling puts it back."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: seen.append(context))
    metrics = Metrics()
    errors = AcceptErrors(metrics, LogLimiter())
    errors.install(loop)
    try:
        with caplog.at_level(logging.ERROR, logger="hub.api.guard"):
            for _ in range(10_000):
                loop.call_exception_handler(
                    {
                        "message": "socket.accept() out of system resource",
                        "exception": OSError(24, "Too many open files"),
                    }
                )
            loop.call_exception_handler({"message": "something else"})
    finally:
        errors.uninstall()
    assert metrics.http_accept_errors._value.get() == 10_000
    assert len([r for r in caplog.records if "cannot accept" in r.getMessage()]) == 1
    assert [context["message"] for context in seen] == ["something else"]
    loop.call_exception_handler({"message": "after"})
    assert seen[-1]["message"] == "after"
    loop.set_exception_handler(None)


def test_uvicorn_warnings_are_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    """A thousand bad requests make one "Invalid HTTP request received." line, not a thousand;
    the next one after the minute says how many were left out; errors are never held back."""
    clock = FakeClock()
    skipped: list[int] = []
    limit_uvicorn_warnings(LogLimiter(60, clock), lambda: skipped.append(1))
    uvicorn = logging.getLogger("uvicorn.error")
    try:
        with caplog.at_level(logging.WARNING, logger="uvicorn.error"):
            for _ in range(1000):
                uvicorn.warning("Invalid HTTP request received.")
            uvicorn.error("Exception in ASGI application")
            uvicorn.error("Exception in ASGI application")
            clock.now += 60
            uvicorn.warning("Invalid HTTP request received.")
    finally:
        for installed in list(uvicorn.filters):
            uvicorn.removeFilter(installed)
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "Invalid HTTP request received.",
        "Exception in ASGI application",
        "Exception in ASGI application",
        "Invalid HTTP request received. (999 more like it in the last minute, not logged)",
    ]
    assert len(skipped) == 999


def test_an_answer_written_by_the_protocol_is_complete_and_closes() -> None:
    answer = raw_response(503, "busy", retry_after=1)
    head, body = answer.split(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Content-Length"] == str(len(body))
    assert headers["Connection"] == "close"
    assert headers["Retry-After"] == "1"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body == b'{"detail": "busy"}'
