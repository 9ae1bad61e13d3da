"""The cuttable proxy of the power-cut test (simulator/netcut.py): while cut, nothing passes and
nothing is closed, either way; once restored, what was held arrives, in order, and a close made
meanwhile follows it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from simulator.netcut import CuttableProxy
from tests.conftest import wait_for

SILENCE_S = 0.5
"""how long a cut connection is watched for anything getting through"""


class Echo:
    """A server that keeps what it receives and, on each connection, sends what it is told to."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.writers: list[asyncio.StreamWriter] = []
        self.closed = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        while data := await reader.read(1024):
            self.received += data
        self.closed.set()

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        if self._server is not None:
            self._server.close()


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    server = Echo()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def proxy(echo: Echo) -> Iterator[CuttableProxy]:
    cuttable = CuttableProxy("127.0.0.1", echo.port).start()
    yield cuttable
    cuttable.close()


async def test_a_cut_holds_everything_and_closes_nothing_until_restored(
    echo: Echo, proxy: CuttableProxy
) -> None:
    reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
    writer.write(b"before ")
    await writer.drain()
    await wait_for(lambda: bytes(echo.received) == b"before ")

    proxy.cut()
    assert proxy.is_cut
    writer.write(b"during")
    await writer.drain()
    echo.writers[0].write(b"to the client")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), SILENCE_S)
    assert bytes(echo.received) == b"before "
    # A connection made while cut is accepted and left unanswered, not passed on.
    late_reader, late_writer = await asyncio.open_connection(proxy.host, proxy.port)
    await asyncio.sleep(SILENCE_S)
    assert len(echo.writers) == 1

    proxy.restore()
    assert await asyncio.wait_for(reader.readexactly(13), 5) == b"to the client"
    await wait_for(lambda: bytes(echo.received) == b"before during")
    await wait_for(lambda: len(echo.writers) == 2)
    late_writer.write(b" late")
    await late_writer.drain()
    await wait_for(lambda: bytes(echo.received) == b"before during late")

    # The server ends the connection while cut (as PostgreSQL's idle timeout does): the client
    # sees no end of stream until the network is back.
    proxy.cut()
    echo.writers[0].write(b"bye")
    echo.writers[0].close()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), SILENCE_S)
    proxy.restore()
    assert await asyncio.wait_for(reader.read(), 5) == b"bye"
    writer.close()
    late_writer.close()
    assert not late_reader.at_eof()
