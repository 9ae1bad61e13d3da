"""The front door of an in-process hub, on loopback: request deadlines, connection caps, body
limits, out-of-range times, and the security headers on every error (issue 13).

Client addresses: every address of 127.0.0.0/8 is the loopback, so a test that needs "another
client" binds its sockets to 127.0.0.2, 127.0.0.3...; the probes come from 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import httpx
from fastapi import FastAPI

from hub.config import HttpSection
from hub.domain.model import Role
from tests.conftest import RunningHub, wait_for
from tests.integration.test_security_headers import _problems

StartHub = Callable[..., Awaitable[RunningHub]]

TIMEOUT_S: Final = 1.0
"""The request deadline of these hubs: short, so that the tests wait little for it."""
WAIT_S: Final = 30.0
"""How long a test waits for what the deadline makes happen (a loaded machine is slow)."""


async def _open(
    running: RunningHub, source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert running.hub.http is not None
    return await asyncio.open_connection("127.0.0.1", running.hub.http.port, local_addr=(source, 0))


async def _answer(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), WAIT_S)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _headers(answer: bytes) -> httpx.Headers:
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return httpx.Headers([tuple(line.split(": ", 1)) for line in head])  # type: ignore[misc]


def _as_response(answer: bytes) -> httpx.Response:
    return httpx.Response(_status(answer), headers=_headers(answer))


async def _metric(running: RunningHub, name: str) -> float:
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        text = (await client.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


@contextlib.asynccontextmanager
async def _held(
    running: RunningHub, count: int, source: str, first_bytes: bytes = b""
) -> AsyncIterator[list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]:
    held = [await _open(running, source) for _ in range(count)]
    for _, writer in held:
        writer.write(first_bytes)
    try:
        yield held
    finally:
        for _, writer in held:
            writer.close()


# -- slow and idle clients -----------------------------------------------------------------------


async def test_an_idle_or_half_sent_request_gets_408_and_is_closed(start_hub: StartHub) -> None:
    """A connection that sends nothing, one that stops in the middle of its headers, and one that
    sends its headers but not the body it announced: each gets 408 with the reason and the
    security headers, and is closed by the server (counted as `timeout` in /metrics)."""
    running = await start_hub(http=HttpSection(port=0, request_timeout_s=TIMEOUT_S))
    partial = {
        "idle": b"",
        "half headers": b"GET /healthz HTTP/1.1\r\nHost: hub\r\n",
        "half body": b"POST /login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"username":',
    }
    clients = {name: await _open(running) for name in partial}
    for name, (_, writer) in clients.items():
        writer.write(partial[name])
    answers = {name: await _answer(reader) for name, (reader, _) in clients.items()}
    for name, answer in answers.items():
        assert _status(answer) == 408, (name, answer)
        assert b"not sent within 1s" in answer, (name, answer)
        assert _problems(name, _as_response(answer), data=True) == []
    assert await _metric(running, 'chuong_http_connections_closed_total{reason="timeout"}') == 3


async def test_a_slow_client_that_completes_in_time_is_served(start_hub: StartHub) -> None:
    """The deadline is for the whole request, not for each byte: a request sent in pieces within
    it is answered, and the kept-alive connection serves a second request after the first."""
    running = await start_hub(http=HttpSection(port=0, request_timeout_s=10))
    reader, writer = await _open(running)
    for piece in (b"GET /healthz HTTP/1.1\r\n", b"Host: hub\r\n", b"\r\n"):
        writer.write(piece)
        await asyncio.sleep(0.2)
    first = await asyncio.wait_for(reader.readuntil(b'"}'), WAIT_S)
    assert _status(first) == 200
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")
    second = await _answer(reader)
    assert _status(second) == 200
    writer.close()


async def test_half_open_connections_from_one_address_push_out_only_their_own(
    start_hub: StartHub,
) -> None:
    """Twice the per-address cap of half-open connections from 127.0.0.2: the oldest of them are
    closed to make room for the newer (never more than the cap stay open), and /healthz from
    127.0.0.1 answers throughout."""
    cap = 8
    running = await start_hub(
        http=HttpSection(port=0, request_timeout_s=60, max_connections_per_address=cap)
    )
    async with _held(running, 2 * cap, "127.0.0.2", b"GET /healthz HTTP/1.1\r\n") as held:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as probe:
            assert (await probe.get("/healthz")).status_code == 200
        oldest = [await _answer(reader) for reader, _ in held[:cap]]
        assert all(answer == b"" for answer in oldest), oldest  # closed (a half request: no answer)

        async def the_newest_stay() -> bool:  # + the metrics request's own connection
            return await _metric(running, "chuong_http_connections ") == cap + 1

        await wait_for(the_newest_stay, WAIT_S)
        newest = held[-1][0]
        assert not newest.at_eof()
    pushed_out = 'chuong_http_connections_closed_total{reason="pushed_out"}'
    assert await _metric(running, pushed_out) == cap


async def test_when_every_connection_is_busy_a_new_one_gets_503(start_hub: StartHub) -> None:
    """Connections busy with a request (live streams) are not pushed out: over the per-address
    cap, the new connection gets 503 with Retry-After and the security headers."""
    cap = 3
    running = await start_hub(
        http=HttpSection(port=0, request_timeout_s=60, max_connections_per_address=cap)
    )
    token = running.tokens[Role.VIEWER]
    request = (
        f"GET /api/v1/stream HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    async with _held(running, cap, "127.0.0.3", request) as streams:
        for reader, _ in streams:
            assert _status(await asyncio.wait_for(reader.readline(), WAIT_S)) == 200
        reader, writer = await _open(running, "127.0.0.3")
        answer = await _answer(reader)
        writer.close()
    assert _status(answer) == 503, answer
    assert b"too many connections from this address" in answer
    assert _headers(answer)["retry-after"] == "1"
    assert _problems("refused", _as_response(answer), data=True) == []


async def test_a_bad_request_line_is_400_with_the_security_headers(start_hub: StartHub) -> None:
    running = await start_hub()
    reader, writer = await _open(running)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    answer = await _answer(reader)
    writer.close()
    assert _status(answer) == 400
    assert _problems("bad request", _as_response(answer), data=True) == []


# -- bodies --------------------------------------------------------------------------------------

ROUTE_FAMILIES: Final = {
    "login": ("POST", "/login"),
    "alarm action": ("POST", "/api/v1/alarms/x/resolve"),
    "registry": ("POST", "/api/v1/devices"),
    "session": ("DELETE", "/api/v1/session"),
    "phone link": ("POST", "/ack/x/boss/1/abc"),
    "unknown route": ("POST", "/nowhere"),
}


async def test_a_body_over_the_limit_is_refused_before_it_is_read(start_hub: StartHub) -> None:
    """A Content-Length over `http.max_body_kib` gets 413, with the reason and the security
    headers, on every route family, with credentials or without; the server closes the connection
    without reading the body (only the headers were sent)."""
    running = await start_hub(http=HttpSection(port=0, max_body_kib=4))
    token = running.tokens[Role.ADMIN]
    answers = {}
    for credentials in ("", f"Authorization: Bearer {token}\r\n"):
        for name, (method, path) in ROUTE_FAMILIES.items():
            reader, writer = await _open(running)
            writer.write(
                f"{method} {path} HTTP/1.1\r\nHost: hub\r\n{credentials}"
                f"Content-Type: application/json\r\nContent-Length: {200 * 2**20}\r\n\r\n".encode()
            )
            answers[name, bool(credentials)] = await _answer(reader)  # closed: nothing is read
            writer.close()
    for key, answer in answers.items():
        assert _status(answer) == 413, (key, answer)
        assert b"larger than the limit of 4,096 bytes" in answer, (key, answer)
        assert _headers(answer)["connection"] == "close"
        assert _problems(str(key), _as_response(answer), data=True) == []
    assert await _metric(running, "chuong_http_bodies_refused_total") == len(answers)


async def test_a_chunked_body_is_refused_once_past_the_limit(start_hub: StartHub) -> None:
    """A body without a length is counted as it is read: past the limit, 413, and the
    connection is closed (the client stops sending; a client that went on sending might see
    the connection reset instead of the answer)."""
    running = await start_hub(http=HttpSection(port=0, max_body_kib=4))
    reader, writer = await _open(running)
    chunk = b"400\r\n" + b"x" * 1024 + b"\r\n"
    writer.write(
        b"POST /login HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 8
    )
    answer = await _answer(reader)
    writer.close()
    assert _status(answer) == 413, answer
    assert b"larger than the limit of 4,096 bytes" in answer
    assert _problems("chunked", _as_response(answer), data=True) == []


async def test_the_largest_note_fits_the_default_limit(start_hub: StartHub) -> None:
    """The default limit holds the largest body the API takes: a resolve note of 2,000
    characters, each escaped in JSON as a surrogate pair (12 bytes: 24,000 in all)."""
    running = await start_hub()
    note = "\U0001f6a8" * 2000
    response = await running.api(Role.OFFICER).post(
        "/api/v1/alarms/no-such-alarm/resolve",
        content=json.dumps({"outcome": "genuine", "note": note}),  # ASCII: every char escaped
        headers={"Content-Type": "application/json"},
    )
    assert int(response.request.headers["content-length"]) > 24_000
    assert response.status_code == 404, response.text  # read, validated, then looked up


# -- out-of-range input, and the errors' headers -------------------------------------------------

EXTREMES: Final = {
    "since": "9999-12-31T23:59:59-14:00",
    "until": "0001-01-01T00:00:00+14:00",
}


async def test_times_with_no_utc_form_are_422_with_the_reason(start_hub: StartHub) -> None:
    """The last moment of year 9999 at -14:00 and the first of year 1 at +14:00 have no UTC form:
    the alarm list and the CSV export answer 422 naming the parameter, never 500."""
    running = await start_hub()
    api = running.api(Role.VIEWER)
    for path in ("/api/v1/alarms", "/api/v1/reports/alarms.csv"):
        for name, value in EXTREMES.items():
            response = await api.get(path, params={name: value})
            assert response.status_code == 422, (path, name, response.text)
            (error,) = response.json()["detail"]
            assert error["loc"] == ["query", name]
            assert "out of range" in error["msg"]
            assert _problems(f"{path} {name}", response, data=True) == []
    in_range = await api.get("/api/v1/alarms", params={"since": "9999-12-31T23:59:59+14:00"})
    assert in_range.status_code == 200


async def test_an_unhandled_error_is_500_with_the_security_headers(start_hub: StartHub) -> None:
    """A bug in a route is a 500 that says nothing of the error, with every security header."""
    running = await start_hub()
    app: FastAPI = running.app

    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/test-broken", broken)
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        response = await client.get("/test-broken")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error: the hub logged it"}
    assert _problems("500", response, data=True) == []


async def test_the_interactive_docs_load_nothing_from_elsewhere(start_hub: StartHub) -> None:
    """/docs works offline: its page, script and style come from the hub itself, and its policy
    lets the browser run scripts from the hub's origin only; FastAPI's CDN pages are not served."""
    running = await start_hub()
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        assert (await client.get("/openapi.json")).status_code == 200
        page = await client.get("/docs")
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "http" not in policy
        assert "http://" not in page.text
        assert "https://" not in page.text
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert "/docs/assets/swagger-ui-bundle.js" in assets
        for asset in assets:
            assert asset.startswith("/docs/"), asset
            answer = await client.get(asset)
            assert answer.status_code == 200, asset
            assert len(answer.content) > 100, asset
        assert "/openapi.json" in (await client.get("/docs/start.js")).text
        for path in (
            "/redoc",
            "/docs/oauth2-redirect",
            "/docs/assets/index.j2",
            "/docs/assets/..%2F__init__.py",
        ):
            assert (await client.get(path)).status_code == 404, path


async def test_connections_are_counted_back_down(start_hub: StartHub) -> None:
    """Closed connections leave the count: the cap is not used up by connections gone."""
    running = await start_hub()
    async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
        for _ in range(5):
            assert (await client.get("/healthz", headers={"Connection": "close"})).is_success

    async def only_the_probe_left() -> bool:
        return await _metric(running, "chuong_http_connections ") == 1

    await wait_for(only_the_probe_left, WAIT_S)
