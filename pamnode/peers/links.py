"""Reaching a peer that dials the main: its streams, as the dial's clients use them.

A peer in `peer_dials` mode keeps one link to the main (pamnode/link/); `Links` opens a
stream on it to one of the peer's listeners, an asyncio transport in this process (no
listener on the main's machine exists that another local user could abuse, and no socket
stands between the TLS and the link). The TLS of the existing clients begins on it unchanged
(pins, Service token): `peers/trust.open_pinned` for the gateway front and the HTTP proxy,
`LinkBackend` under the peer protocol's httpx clients.
"""

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpcore
import httpx

from pamnode.core.streams import Pair, tls_over

# The listeners a main may open a stream to, by name; the peer refuses any other.
API, GATEWAY, HTTP_PROXY = "api", "gateway", "http-proxy"


class Links(Protocol):
    async def open(self, peer_id: str, listener: str) -> asyncio.Transport:
        """A stream to `listener` of the peer whose link this main holds; PeerFailure
        (`link_down`) when it holds none."""

    def epoch(self, peer_id: str) -> int | None:
        """The number of the peer's link now (None: none): a stream opened under another
        number ended with its link."""

    def lost(self, peer_id: str) -> str:
        """Why the peer's last link ended."""


def link_dropped(links: Links, peer_id: str | None, epoch: int | None) -> str:
    """Why a stream to a peer that dials, opened under link `epoch`, ended with that link;
    "" when the link still stands (or the peer does not dial: `peer_id` None)."""
    if peer_id is None or links.epoch(peer_id) == epoch:
        return ""
    return f"the peer's link to this main dropped ({links.lost(peer_id)})"


# TLS (this context, this server name) on a connection opened otherwise than to an address of
# anyone's choosing: a stream of a peer's link, a peer's way out to its main.
Opener = Callable[[ssl.SSLContext, str], Awaitable[Pair]]


def opener(links: Links, peer_id: str, listener: str) -> Opener:
    async def open_tls(context: ssl.SSLContext, server_hostname: str) -> Pair:
        stream = await links.open(peer_id, listener)
        return await tls_over(stream, context, server_hostname=server_hostname)

    return open_tls


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return await asyncio.wait_for(self._reader.read(max_bytes), timeout)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self._writer.write(buffer)
            await asyncio.wait_for(self._writer.drain(), timeout)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    async def aclose(self) -> None:
        self._writer.close()

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # An idle keep-alive connection that is readable was closed by the other side.
            return self._reader.at_eof() or self._writer.is_closing()
        return self._writer.get_extra_info(info)


class _NotYetTls(httpcore.AsyncNetworkStream):
    """A connection of the link before httpcore begins its TLS, which it always does first:
    the TLS is begun by the opener, on the stream itself."""

    def __init__(self, open_tls: Opener) -> None:
        self._open_tls = open_tls

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        raise httpcore.ReadError("a stream of the link carries TLS only")

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        raise httpcore.WriteError("a stream of the link carries TLS only")

    async def aclose(self) -> None:
        pass

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            pair = await asyncio.wait_for(
                self._open_tls(ssl_context, server_hostname or ""), timeout
            )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return _Stream(*pair)


class LinkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's connections opened as streams on the peer's link instead of by TCP."""

    def __init__(self, open_tls: Opener) -> None:
        self._open_tls = open_tls

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        return _NotYetTls(self._open_tls)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class BackendTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, its connections opened by a network backend of ours: the peer's
    link (`LinkBackend`), or TCP to the address the destination policy checked
    (`peers/client.CheckedTcp`)."""

    def __init__(
        self, backend: httpcore.AsyncNetworkBackend, verify: ssl.SSLContext, limits: httpx.Limits
    ) -> None:
        super().__init__(verify=verify, limits=limits)
        # httpx takes no network backend; the pool it made is replaced by one that has ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
