"""A Guacamole instruction stream over an asyncio connection (to guacd or a gateway front)."""

import asyncio
import codecs

from pamnode.core.streams import READ_BYTES, Connection
from pamnode.sessions.guacamole.protocol import Instruction, Scanner


class StreamClosed(ConnectionError):
    """The other end closed the connection."""


class GuacStream(Connection):
    """A connection read as Guacamole instructions; `detach` hands it over to a raw splice."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._scanner = Scanner()
        self._pending: list[Instruction] = []

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
        if self.writer.is_closing():
            # Closed from outside (Terminate): uvloop refuses writes to a closed transport
            # with a RuntimeError, asyncio's own loop drops them; both callers expect this.
            raise ConnectionResetError("the Guacamole connection is closed")
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
