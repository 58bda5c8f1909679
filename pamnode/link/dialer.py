"""On the peer: the way out to the main — TCP, through the HTTP proxy the environment names
(`https_proxy`, `no_proxy`, as curl reads them) with CONNECT, then TLS that accepts only the
main's pinned certificate, then the WebSocket at the main's `/peer-link`."""

import asyncio
import base64
import socket
import ssl
import urllib.request
from urllib.parse import unquote, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from pamnode.core.errors import PeerFailure
from pamnode.core.hostports import authority
from pamnode.link.stream import MAX_DATA
from pamnode.peers.addresses import PeerSiteUrl
from pamnode.peers.trust import connection_error

CONNECT_TIMEOUT_S = 10.0
_HEAD_LIMIT = 8192
# The largest message of the link: a DATA frame and its header.
MAX_MESSAGE = MAX_DATA + 1024


def proxy_for(host: str, port: int) -> str | None:
    """The proxy the environment names for https to host:port, or None (direct)."""
    if urllib.request.proxy_bypass(authority(host, port)) or urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get("https") or None


async def _tcp(host: str, port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    failure: OSError | None = None
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
            return sock
        except OSError as exc:
            sock.close()
            failure = exc
    raise failure or OSError(f"no address for {host}")


async def _through_proxy(proxy: str, host: str, port: int) -> socket.socket:
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme != "http" or not parts.hostname:
        raise PeerFailure(
            f"the proxy {parts.scheme}://{parts.hostname} is not an http:// proxy",
            code="link_proxy_failed",
        )
    sock = await _tcp(parts.hostname, parts.port or 3128)
    loop = asyncio.get_running_loop()
    asked = authority(host, port)
    lines = [f"CONNECT {asked} HTTP/1.1", f"Host: {asked}"]
    if parts.username:
        user = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        lines.append(f"Proxy-Authorization: Basic {base64.b64encode(user.encode()).decode()}")
    await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    # One byte at a time: what follows the proxy's answer is the main's TLS, not ours to read.
    while not head.endswith(b"\r\n\r\n"):
        byte = await loop.sock_recv(sock, 1)
        if not byte or len(head) > _HEAD_LIMIT:
            sock.close()
            raise PeerFailure(
                f"the proxy {parts.hostname} closed or flooded the CONNECT to {asked}",
                code="link_proxy_failed",
            )
        head += byte
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    if status.split(" ")[1:2] != ["200"]:
        sock.close()
        raise PeerFailure(
            f"the proxy {parts.hostname} refused CONNECT {asked}: {status[:120]}",
            code="link_proxy_failed",
        )
    return sock


async def open_socket(host: str, port: int) -> socket.socket:
    """A TCP connection to host:port, through the environment's proxy if it names one."""
    proxy = proxy_for(host, port)
    try:
        return await asyncio.wait_for(
            _through_proxy(proxy, host, port) if proxy else _tcp(host, port), CONNECT_TIMEOUT_S
        )
    except TimeoutError as exc:
        raise PeerFailure(
            f"no connection to {authority(host, port)} within {CONNECT_TIMEOUT_S:.0f} s",
            code="connect_failed",
        ) from exc
    except OSError as exc:
        raise connection_error(host, port, exc) from exc


async def open_link(main: PeerSiteUrl, context: ssl.SSLContext) -> ClientConnection:
    """The WebSocket to the main's `/peer-link`, inside TLS the context accepts."""
    sock = await open_socket(main.host, main.port)
    try:
        return await connect(
            f"wss://{authority(main.host, main.port)}/ztna/{main.tenant}/{main.site}/peer-link",
            sock=sock,
            ssl=context,
            server_hostname=main.host,
            open_timeout=CONNECT_TIMEOUT_S,
            # The link's own heartbeats (mux.py) see a dead link; these would only add traffic.
            ping_interval=None,
            max_size=MAX_MESSAGE,
            # What the link carries is TLS inside its streams, which deflate cannot shrink:
            # permessage-deflate (offered by default) only cost both ends CPU on every frame.
            compression=None,
        )
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise connection_error(main.host, main.port, exc) from exc
    except Exception as exc:
        sock.close()
        raise PeerFailure(
            f"the main at {main.base} did not open the link: {exc}", code="link_refused"
        ) from exc


class WebSocketChannel:
    """The peer's side of the link as `mux.Channel`."""

    def __init__(self, websocket: ClientConnection) -> None:
        self._websocket = websocket

    async def send(self, frame: bytes) -> None:
        try:
            await self._websocket.send(frame)
        except ConnectionClosed as exc:
            raise ConnectionError("the link closed") from exc

    async def receive(self) -> bytes | None:
        try:
            message = await self._websocket.recv()
        except ConnectionClosed:
            return None
        return message.encode() if isinstance(message, str) else message

    async def close(self, reason: str) -> None:
        await self._websocket.close(reason=reason[:120])
