"""A TCP proxy whose network can be cut like a machine that lost its power: for the tests.

`CuttableProxy` listens on a free local port and forwards every connection to one address (a
PostgreSQL server, a broker). `cut()` stops it forwarding anything, in both directions, without
closing a socket: no FIN, no RST, the bytes are held where they are. To both ends it looks as if
the other machine had died: the client's requests get no answer, and the server sees a peer that
says nothing more. Connections made while cut are accepted and held, and not passed on. `restore()`
lets everything flow again, in order, as a network that heals: what either end sent meanwhile is
delivered then, and a connection the other end closed meanwhile is closed then.

What it cannot imitate: the server's TCP peer is the proxy, so the server's TCP keepalives and
retransmissions are answered by the proxy's kernel, as by a NAT or a switch that keeps a dead
machine's connection state. Only timeouts the server keeps itself (PostgreSQL's
`idle_session_timeout`, the broker's keepalive) or an explicit end of the connection by another
client (`pg_terminate_backend`, an MQTT session takeover) free what the dead end held. That is the
harder case: a real dead machine's connections are also ended by the server's keepalives.

The proxy runs its own event loop in a thread, so a test that blocks its own loop for a moment (a
synchronous query) does not slow the traffic it carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

CHUNK = 65536


class CuttableProxy:
    """One listening port forwarded to `target` until `cut()`; see the module's docstring."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.host = "127.0.0.1"
        self.port = 0
        """the proxy's port, once started"""
        self.connections = 0
        """connections accepted so far"""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="netcut", daemon=True)
        self._open: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def start(self) -> CuttableProxy:
        self._thread.start()
        self._call(self._start())
        return self

    async def _start(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def is_cut(self) -> bool:
        return self._open is not None and not self._open.is_set()

    def cut(self) -> None:
        """From now on nothing passes, in either direction, and nothing is closed."""
        self._call(self._set(False))

    def restore(self) -> None:
        """Everything held is delivered, and traffic flows again."""
        self._call(self._set(True))

    async def _set(self, flowing: bool) -> None:
        assert self._open is not None
        if flowing:
            self._open.set()
        else:
            self._open.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._open is not None
        self.connections += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._carry(reader, writer)
        except asyncio.CancelledError:
            pass  # the proxy is closing
        finally:
            self._writers.discard(writer)
            writer.close()
            self._tasks.discard(task)

    async def _carry(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._open is not None
        await self._open.wait()  # a connection made while cut waits, unanswered
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            return
        self._writers.add(up_writer)
        pumps = {
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        }
        try:
            # One direction ended (closed, or reset): the connection is over both ways.
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self._writers.discard(up_writer)
            up_writer.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Copy one direction. While cut it reads nothing (the sender's buffers fill, as with
        a peer that does not acknowledge), and what it read just before the cut is held until
        the restore; an end of stream (or a reset) is passed on only then too."""
        assert self._open is not None
        try:
            while True:
                await self._open.wait()
                data = await source.read(CHUNK)
                await self._open.wait()
                if not data:
                    return
                sink.write(data)
                await sink.drain()
        except OSError:
            await self._open.wait()

    def close(self) -> None:
        """Stop listening and close every connection (the test is over)."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
