"""A Guacamole instruction stream over an asyncio connection (to guacd or a gateway front)."""

import asyncio
import codecs
import contextlib

from pamnode.sessions.guacamole.protocol import Instruction, Scanner

READ_BYTES = 65536


class StreamClosed(ConnectionError):
    """The other end closed the connection."""


class GuacStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._scanner = Scanner()
        self._pending: list[Instruction] = []
        self.bytes_in = 0
        self.bytes_out = 0

    async def _fill(self) -> None:
        data = await self.reader.read(READ_BYTES)
        if not data:
            raise StreamClosed("the connection closed")
        self.bytes_in += len(data)
        self._scanner.feed(self._decoder.decode(data))

    async def read_text(self) -> str:
        """Whole instructions as text, as many as have arrived (at least one)."""
        if self._pending:
            # Instructions parsed by read_instruction but not consumed yet come first.
            text = "".join(item.encode() for item in self._pending)
            self._pending.clear()
            return text + self._scanner.take_text()
        while True:
            text = self._scanner.take_text()
            if text:
                return text
            await self._fill()

    async def read_instruction(self) -> Instruction:
        while not self._pending:
            self._pending.extend(self._scanner.take())
            if not self._pending:
                await self._fill()
        return self._pending.pop(0)

    async def send(self, text: str) -> None:
        data = text.encode()
        self.bytes_out += len(data)
        self.writer.write(data)
        await self.writer.drain()

    def detach(self) -> bytes:
        """What was received but not consumed, as bytes, so a raw splice can carry on from here."""
        text = "".join(item.encode() for item in self._pending) + self._scanner.take_text()
        self._pending.clear()
        pending_bytes, _ = self._decoder.getstate()
        return (text + self._scanner.rest()).encode() + pending_bytes

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def _pump(source: GuacStream, sink: GuacStream, first: bytes) -> None:
    if first:
        sink.writer.write(first)
        sink.bytes_out += len(first)
    while data := await source.reader.read(READ_BYTES):
        source.bytes_in += len(data)
        sink.writer.write(data)
        sink.bytes_out += len(data)
        await sink.writer.drain()


async def splice(a: GuacStream, b: GuacStream) -> None:
    """Carry bytes both ways, untouched, until either side closes; then close both.

    What each stream had received but not consumed (e.g. guacd's first frames, read together
    with `ready`) goes first.
    """
    tasks = [
        asyncio.create_task(_pump(a, b, a.detach())),
        asyncio.create_task(_pump(b, a, b.detach())),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await a.close()
        await b.close()
