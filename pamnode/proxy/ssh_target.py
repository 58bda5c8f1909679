"""An SSH client connection to the target, spoken over a route (straight or through a peer's
HTTP proxy).

asyncssh speaks on the route's own transport (TCP, or TLS to the peer's proxy): the route's
stream hands its transport over to the SSH connection, with a thin layer between them that
counts the session's bytes and notes when any last moved, for the idle bound. No socket pair
and no copying task in between: each chunk goes from the kernel to asyncssh in one step
(a pump through a socket pair cost the main about an eighth of its CPU while copying files;
see docs/proxy.md, "Speed")."""

import asyncio
from typing import Any, cast

from pamnode.assets.credentials import Credential
from pamnode.assets.ssh import SshHost, connect_ssh
from pamnode.core.ssh_library import asyncssh
from pamnode.core.streams import Connection
from pamnode.proxy.route import Route

# Reaching the SSH server through the route, key exchange and authentication.
CONNECT_TIMEOUT_S = 20.0


class _Counted(asyncio.Protocol):
    """Between the route's transport and the SSH connection: counts bytes each way on the
    route's Connection (its report and Terminate see the same object), and resolves `closed`
    when the transport is gone."""

    def __init__(self, route: Connection, inner: asyncio.Protocol, former: Any) -> None:
        self.route = route
        self.inner = inner
        # The stream's own protocol: told of the end too, so a wait on the route's writer ends.
        self.former = former
        self.loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self.loop.create_future()

    def data_received(self, data: bytes) -> None:
        self.route.bytes_in += len(data)
        self.route.last_read = self.loop.time()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)
        self.former.connection_lost(exc)
        if not self.closed.done():
            self.closed.set_result(None)


class _CountedTransport:
    """The route's transport as the SSH connection sees it: writes counted, the rest as is."""

    def __init__(self, transport: asyncio.Transport, route: Connection, loop: Any) -> None:
        self._transport = transport
        self._route = route
        self._loop = loop

    def write(self, data: bytes) -> None:
        self._route.bytes_out += len(data)
        # Traffic either way keeps a session alive, as in a splice.
        self._route.last_read = self._loop.time()
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _RouteTunnel:
    """What asyncssh's `tunnel` option asks for: a `create_connection` that gives the SSH
    connection its transport, here the route's, taken over from its stream."""

    def __init__(self, route: Connection) -> None:
        self.route = route
        self.counted: _Counted | None = None

    async def create_connection(
        self, factory: Any, _host: str, _port: int
    ) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
        transport = cast(asyncio.Transport, self.route.writer.transport)
        # Nothing is read while the protocol changes, so no byte lands on the old one.
        transport.pause_reading()
        former = transport.get_protocol()
        ssh = factory()
        self.counted = _Counted(self.route, ssh, former)
        transport.set_protocol(self.counted)
        # What the stream had read already (the start of the server's banner, when it came
        # with the proxy's answer): its reader gets nothing more, so this returns at once.
        self.route.reader.feed_eof()
        pending = await self.route.reader.read()
        wrapped = cast(
            asyncio.Transport, _CountedTransport(transport, self.route, asyncio.get_running_loop())
        )
        ssh.connection_made(wrapped)
        if pending:
            self.counted.data_received(pending)
        transport.resume_reading()
        return wrapped, ssh


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
    assert tunnel.counted is not None
    watch = asyncio.create_task(_watch(connection, tunnel.counted.closed, idle_timeout_s))
    return conn, key, watch
