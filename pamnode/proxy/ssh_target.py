"""An SSH client connection to the target, spoken over a route (straight or through a peer's
HTTP proxy). asyncssh wants a socket; the route is an asyncio stream (TLS to the peer's proxy,
or TCP), so the two are joined by a local socket pair whose splice counts the session's bytes
and ends it after the idle bound."""

import asyncio
import socket

from pamnode.assets.credentials import Credential
from pamnode.assets.ssh import SshHost, connect_ssh
from pamnode.core.ssh_library import asyncssh
from pamnode.core.streams import Connection, SpliceEnd, splice
from pamnode.proxy.route import Route

# Reaching the SSH server through the route, key exchange and authentication.
CONNECT_TIMEOUT_S = 20.0


async def ssh_over(
    route: Route, host: SshHost, credential: Credential, idle_timeout_s: float
) -> tuple[asyncssh.SSHClientConnection, str | None, "asyncio.Task[SpliceEnd]"]:
    """The authenticated connection, the host key it presented, and the task carrying its
    bytes (its result says whether it ended for idleness). Raises ExecutionError."""
    near, far = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=far)
    carrier = asyncio.create_task(
        splice(route.connection, Connection(reader, writer), idle_timeout_s=idle_timeout_s)
    )
    try:
        conn, key = await connect_ssh(host, credential, CONNECT_TIMEOUT_S, sock=near)
    except BaseException:
        near.close()
        carrier.cancel()
        await asyncio.gather(carrier, return_exceptions=True)
        raise
    return conn, key, carrier
