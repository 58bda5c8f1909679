"""Two asyncio connections spliced together: bytes carried both ways, untouched and counted,
until either side closes. The gateway front (after guacd's handshake) and the HTTP proxy
(after CONNECT) end in this. And a reader and writer, plain or TLS, on a transport that is
open already."""

import asyncio
import contextlib
import ssl
from asyncio import sslproto
from dataclasses import dataclass
from enum import Enum

# As much as one read may take: bulk transfers (a file through the HTTP proxy) move in few,
# large steps; a reader returns what it has at once, so small messages do not wait.
READ_BYTES = 256 * 1024

# An asyncio connection's two ends.
Pair = tuple[asyncio.StreamReader, asyncio.StreamWriter]
TLS_HANDSHAKE_TIMEOUT_S = 10


def stream_pair(transport: asyncio.Transport, limit: int = 2**16) -> Pair:
    """asyncio's reader and writer on a transport that is open already (a stream of a peer's
    link), carrying its bytes as they are; `tls_over` begins TLS on one instead."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def tls_over(
    transport: asyncio.BaseTransport,
    context: ssl.SSLContext,
    *,
    server_side: bool = False,
    server_hostname: str | None = None,
    limit: int = 2**16,
) -> Pair:
    """TLS on a transport that is open already (a stream of a peer's link), as a reader and
    writer once the handshake is done; the transport is closed if it fails.

    asyncio's own TLS layer is used directly: the node runs on uvloop, whose `start_tls`
    takes only uvloop's own transports."""
    loop = asyncio.get_running_loop()
    connected: asyncio.Future[Pair] = loop.create_future()

    def made(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set_result((reader, writer))

    handshake: asyncio.Future[None] = loop.create_future()
    tls = sslproto.SSLProtocol(
        loop,
        asyncio.StreamReaderProtocol(asyncio.StreamReader(limit=limit, loop=loop), made),
        context,
        handshake,
        server_side=server_side,
        server_hostname=server_hostname,
        ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S,
    )
    transport.set_protocol(tls)
    tls.connection_made(transport)
    try:
        await handshake
    except BaseException:
        transport.close()
        raise
    return await connected


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    # Bytes this side received from its peer and sent to it.
    bytes_in: int = 0
    bytes_out: int = 0
    # The event loop's time when this side last received anything.
    last_read: float = 0.0

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def _pump(source: Connection, sink: Connection, first: bytes) -> None:
    if first:
        sink.writer.write(first)
        sink.bytes_out += len(first)
    loop = asyncio.get_running_loop()
    while data := await source.reader.read(READ_BYTES):
        source.last_read = loop.time()
        source.bytes_in += len(data)
        sink.writer.write(data)
        sink.bytes_out += len(data)
        await sink.writer.drain()


async def _quiet_for(a: Connection, b: Connection, idle_timeout_s: float) -> None:
    """Returns once neither side has received anything for `idle_timeout_s`."""
    loop = asyncio.get_running_loop()
    while (quiet := loop.time() - max(a.last_read, b.last_read)) < idle_timeout_s:
        await asyncio.sleep(idle_timeout_s - quiet)


class SpliceEnd(Enum):
    """Why a splice ended: a side's stream ended first (it closed, or broke), or idleness."""

    A_ENDED = "a"
    B_ENDED = "b"
    IDLE = "idle"


async def splice(
    a: Connection,
    b: Connection,
    a_pending: bytes = b"",
    b_pending: bytes = b"",
    idle_timeout_s: float | None = None,
) -> SpliceEnd:
    """Carry bytes both ways until either side closes, then close both. What one side had
    already received but not consumed (`a_pending` from a, `b_pending` from b) goes first.

    With `idle_timeout_s`, a splice in which no byte moved for that long is closed too.
    Returns why it ended (which side's carrying stopped first, or idleness).
    """
    a.last_read = b.last_read = asyncio.get_running_loop().time()
    tasks = [
        asyncio.create_task(_pump(a, b, a_pending)),
        asyncio.create_task(_pump(b, a, b_pending)),
    ]
    watch = None
    if idle_timeout_s is not None:
        watch = asyncio.create_task(_quiet_for(a, b, idle_timeout_s))
        tasks.append(watch)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if watch is not None and watch in done:
            return SpliceEnd.IDLE
        return SpliceEnd.A_ENDED if tasks[0] in done else SpliceEnd.B_ENDED
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await a.close()
        await b.close()
