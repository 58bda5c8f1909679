"""A TLS listener's connections, whichever way they come: accepted on its TCP port, or handed
over on a stream of this peer's link to its main (`take`), served by the same callback with
the same certificate. A stream served here in-process crosses no loopback connection, whose
write, read and wake-up for every chunk were most of what a bulk transfer cost the peer."""

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable

from pamnode.core.streams import TLS_HANDSHAKE_TIMEOUT_S, tls_over

log = logging.getLogger("pamnode.listeners")

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class TlsServer:
    def __init__(self, serve: Serve, tls: ssl.SSLContext, limit: int = 2**16) -> None:
        self._serve = serve
        self._tls = tls
        self._limit = limit
        self._server: asyncio.Server | None = None
        self._taken: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(
            self._serve,
            host,
            port,
            ssl=self._tls,
            ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S,
            limit=self._limit,
        )

    def take(self, transport: asyncio.Transport) -> None:
        """Serve a connection that is open already (its TLS not yet begun)."""
        task = asyncio.create_task(self._handshake(transport), name="a stream's TLS")
        self._taken.add(task)
        task.add_done_callback(self._taken.discard)

    async def _handshake(self, transport: asyncio.Transport) -> None:
        try:
            reader, writer = await tls_over(
                transport, self._tls, server_side=True, limit=self._limit
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            log.warning("a stream's TLS handshake failed: %s", exc)
            return
        await self._serve(reader, writer)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._taken):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._taken, return_exceptions=True)
