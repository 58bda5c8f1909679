"""An SSH client connection to the target, spoken over a route (straight or through a peer's
HTTP proxy).

asyncssh speaks on the route's own transport (TCP, or TLS to the peer's proxy): the route's
stream hands its transport over to the SSH connection, under a `SlicedFeed` that also counts
the session's bytes and notes when any last moved, for the idle bound. No socket pair and no
copying task in between (a pump through a socket pair cost the main about an eighth of its CPU
while copying files; see docs/proxy.md, "Speed")."""

import asyncio
from collections.abc import Callable
from typing import cast

from pamnode.assets.credentials import Credential
from pamnode.assets.ssh import SshHost, connect_ssh
from pamnode.core.ssh_library import asyncssh
from pamnode.core.streams import Connection
from pamnode.proxy.route import Route
from pamnode.proxy.ssh_transport import SlicedFeed

# Reaching the SSH server through the route, key exchange and authentication.
CONNECT_TIMEOUT_S = 20.0


class _RouteTunnel:
    """What asyncssh's `tunnel` option asks for: a `create_connection` that gives the SSH
    connection its transport, here the route's, taken over from its stream. Bytes each way
    are counted on the route's Connection (its report and Terminate see the same object)."""

    def __init__(self, route: Connection) -> None:
        self.route = route
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def _moved(self, size: int, received: bool) -> None:
        if received:
            self.route.bytes_in += size
        else:
            self.route.bytes_out += size
        # Traffic either way keeps a session alive, as in a splice.
        self.route.last_read = asyncio.get_running_loop().time()

    async def create_connection(
        self, factory: Callable[[], asyncio.Protocol], _host: str, _port: int
    ) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
        transport = cast(asyncio.Transport, self.route.writer.transport)
        # Nothing is read while the protocol changes, so no byte lands on the old one.
        transport.pause_reading()
        # The stream's own protocol is told of the end too, so a wait on its writer ends.
        former = transport.get_protocol()

        def lost(exc: Exception | None) -> None:
            former.connection_lost(exc)
            if not self.closed.done():
                self.closed.set_result(None)

        ssh = factory()
        feed = SlicedFeed(
            ssh,
            received=lambda size: self._moved(size, True),
            written=lambda size: self._moved(size, False),
            lost=lost,
        )
        transport.set_protocol(feed)
        # What the stream had read already (the start of the server's banner, when it came
        # with the proxy's answer): its reader gets nothing more, so this returns at once.
        self.route.reader.feed_eof()
        pending = await self.route.reader.read()
        feed.connection_made(transport)
        if pending:
            feed.data_received(pending)
        transport.resume_reading()
        return transport, ssh


async def _watch(route: Connection, closed: "asyncio.Future[None]", idle_timeout_s: float) -> bool:
    """Until the route closes; True (and the route closed) once no byte moved for
    `idle_timeout_s`."""
    loop = asyncio.get_running_loop()
    while not closed.done():
        quiet = loop.time() - route.last_read
        if quiet >= idle_timeout_s:
            route.writer.transport.close()
            return True
        await asyncio.wait([closed], timeout=idle_timeout_s - quiet)
    return False


async def ssh_over(
    route: Route, host: SshHost, credential: Credential, idle_timeout_s: float
) -> tuple[asyncssh.SSHClientConnection, str | None, "asyncio.Task[bool]"]:
    """The authenticated connection, the host key it presented, and the task that watches its
    route (its result is True when it ended for idleness). Raises ExecutionError."""
    connection = route.connection
    connection.last_read = asyncio.get_running_loop().time()
    tunnel = _RouteTunnel(connection)
    try:
        conn, key = await connect_ssh(host, credential, CONNECT_TIMEOUT_S, tunnel=tunnel)
    except BaseException:
        connection.writer.transport.close()
        raise
    watch = asyncio.create_task(_watch(connection, tunnel.closed, idle_timeout_s))
    return conn, key, watch
