"""Two asyncio connections spliced together: bytes carried both ways, untouched and counted,
until either side closes. The gateway front (after guacd's handshake) and the HTTP proxy
(after CONNECT) end in this."""

import asyncio
import contextlib
from dataclasses import dataclass

READ_BYTES = 65536


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    # Bytes this side received from its peer and sent to it.
    bytes_in: int = 0
    bytes_out: int = 0

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def _pump(source: Connection, sink: Connection, first: bytes) -> None:
    if first:
        sink.writer.write(first)
        sink.bytes_out += len(first)
    while data := await source.reader.read(READ_BYTES):
        source.bytes_in += len(data)
        sink.writer.write(data)
        sink.bytes_out += len(data)
        await sink.writer.drain()


async def splice(
    a: Connection, b: Connection, a_pending: bytes = b"", b_pending: bytes = b""
) -> None:
    """Carry bytes both ways until either side closes, then close both. What one side had
    already received but not consumed (`a_pending` from a, `b_pending` from b) goes first."""
    tasks = [
        asyncio.create_task(_pump(a, b, a_pending)),
        asyncio.create_task(_pump(b, a, b_pending)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await a.close()
        await b.close()
