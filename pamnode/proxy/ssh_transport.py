"""What sits between asyncssh and the sockets of the SSH proxy's two legs, for speed.

asyncssh writes each SSH packet to its transport on its own (dozens in a row when a channel's
window opens), and copies what is left of its input after each packet it takes, so a large
read handed over whole is copied again and again (256 KiB: about nine times over). Profiles of
the main while copying files put a third of its time there (docs/proxy.md, "Speed"). So:

- `BatchedWrites`: the writes of one turn of the event loop go out as one (one system call,
  one TLS write towards a peer);
- `SlicedFeed`: what a read brought is handed to asyncssh in slices of FEED_BYTES.

`pamnode.listeners.ssh_proxy.SshListener` puts both under every connection of the SSH proxy's
listener (asyncssh's `tunnel` option for listening); `pamnode.proxy.ssh_target` puts them
under the target's.
"""

import asyncio
from collections.abc import Callable
from typing import Any, cast

# What asyncssh is handed at a time (two of the largest packets the proxy asks for).
FEED_BYTES = 64 * 1024


def _nothing(_size: int) -> None:
    pass


class BatchedWrites:
    """`transport` as asyncssh sees it: writes of one loop turn sent together, and told to
    `written` (their size) as they come; everything else as is."""

    def __init__(
        self, transport: asyncio.Transport, written: Callable[[int], None] = _nothing
    ) -> None:
        self._transport = transport
        self._written = written
        self._loop = asyncio.get_running_loop()
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._written(len(data))
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending and not self._transport.is_closing():
            self._transport.write(b"".join(self._pending))
        self._pending.clear()

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class SlicedFeed(asyncio.Protocol):
    """Between a transport and asyncssh's connection (`inner`): reads handed on in slices and
    told to `received` (their size), writes batched (told to `written`), the end told to
    `lost` as well."""

    def __init__(
        self,
        inner: asyncio.Protocol,
        received: Callable[[int], None] = _nothing,
        written: Callable[[int], None] = _nothing,
        lost: Callable[[Exception | None], None] | None = None,
    ) -> None:
        self.inner = inner
        self._received = received
        self._written = written
        self._lost = lost
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        batched = BatchedWrites(self._transport, self._written)
        self.inner.connection_made(cast(asyncio.Transport, batched))

    def data_received(self, data: bytes) -> None:
        self._received(len(data))
        if len(data) <= FEED_BYTES:
            self.inner.data_received(data)
            return
        for at in range(0, len(data), FEED_BYTES):
            if at and self._transport is not None and self._transport.is_closing():
                return  # as a transport does: nothing more once closed
            self.inner.data_received(data[at : at + FEED_BYTES])

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)
        if self._lost is not None:
            self._lost(exc)
