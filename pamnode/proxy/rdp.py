"""RDP pass-through: an RDP client's TCP stream carried to the asset's RDP port, straight or
through the peer's HTTP proxy, on a one-time port of the main.

`open_rdp_proxy` opens the session (Channel RDPP) and a listener on a free port; the first
connection from the address that asked for it, within ATTACH_WITHIN_S, is carried; the
listener then closes. The bytes are not looked at (they are TLS between the client and the
host): the session records bytes and duration, and no screen. The client logs in to the host
itself; the vault's credential is not used (a gateway session injects it instead).
"""

import asyncio
import logging
from dataclasses import dataclass

from pamnode.audit.service import AuditScope
from pamnode.audit.targets import allowed_destination
from pamnode.core.errors import PamError
from pamnode.core.streams import Connection, SpliceEnd, splice
from pamnode.identity.principal import Principal
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.opening import Opened, open_proxy_session, require_standing
from pamnode.proxy.peer_watch import watch_peer
from pamnode.proxy.route import Route, lost_peer, reach
from pamnode.sessions import lifecycle, states
from pamnode.sessions.models import Channel
from pamnode.sessions.states import End, SessionState

log = logging.getLogger("pamnode.proxy.rdp")

# How long the one-time port waits for the RDP client.
ATTACH_WITHIN_S = 60.0


@dataclass(frozen=True)
class RdpOffer:
    session_id: str
    asset_name: str
    # Where the RDP client connects (once).
    host: str
    port: int
    expires_in_s: float

    @property
    def rdp_file(self) -> str:
        """A .rdp file for Windows' mstsc, FreeRDP or Remmina; the host asks for the login."""
        return (
            f"full address:s:{self.host}:{self.port}\r\n"
            "prompt for credentials:i:1\r\n"
            "authentication level:i:2\r\n"
            f"alternate shell:s:\r\nsession bpp:i:32\r\n"
        )


async def open_rdp_proxy(
    ctx: ProxyContext, principal: Principal, asset_ref: str, bind_host: str, advertised: str
) -> RdpOffer:
    opened = await open_proxy_session(ctx, principal, asset_ref, Channel.RDPP)
    if not opened.candidates:
        # Said now rather than once a client attached (the route checks again, and connects
        # to the address it resolved then).
        try:
            await allowed_destination(
                ctx.destinations,
                ctx.database,
                opened.scope,
                opened.host,
                opened.port,
                via="rdp pass-through",
                session=opened.session_id,
            )
        except PamError as exc:
            refused = End(SessionState.FAILED, error=exc.message, code=exc.code)
            await lifecycle.ended(ctx.database, opened.scope, opened.session_id, refused)
            raise
    arrived: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        source = str((writer.get_extra_info("peername") or ("",))[0])
        if arrived.done() or source != principal.source:
            log.warning("rdp pass-through %s: turned away %s", opened.session_id, source)
            writer.close()
            return
        arrived.set_result(Connection(reader, writer))

    server = await asyncio.start_server(accept, bind_host, 0)
    port = int(server.sockets[0].getsockname()[1])
    # No pass-through may reach another (or itself): the destination policy refuses this port.
    ctx.rdp_ports.add(port)
    task = asyncio.create_task(_carry(ctx, principal, opened, server, port, arrived))
    ctx.background.add(task)
    task.add_done_callback(ctx.background.discard)
    return RdpOffer(opened.session_id, opened.asset_name, advertised, port, ATTACH_WITHIN_S)


async def _carry(
    ctx: ProxyContext,
    principal: Principal,
    opened: Opened,
    server: asyncio.Server,
    port: int,
    arrived: "asyncio.Future[Connection]",
) -> None:
    scope = principal.audit_scope
    sid = opened.session_id
    try:
        client = await asyncio.wait_for(arrived, ATTACH_WITHIN_S)
    except TimeoutError:
        unattached = End(
            SessionState.FAILED,
            error=f"no RDP client connected within {ATTACH_WITHIN_S:g} s",
            code="session_unattached",
        )
        await lifecycle.ended(ctx.database, scope, sid, unattached)
        return
    finally:
        server.close()
        ctx.rdp_ports.discard(port)
    async with ctx.database.begin() as db:
        claimed = await states.claim(db, sid, ctx.node_name)
    if not claimed:
        # Terminated while it waited for its client.
        await client.close()
        return
    try:
        await require_standing(ctx, principal, opened)
        route = await reach(
            ctx,
            sid,
            opened.host,
            opened.port,
            opened.candidates,
            opened.here_signature,
            opened.scope,
        )
    except PamError as exc:
        await client.close()
        failed = End(SessionState.FAILED, error=exc.message, code=exc.code)
        await lifecycle.ended(ctx.database, scope, sid, failed)
        return
    # Known before the start is: a terminate that finds the session active finds it.
    ctx.live[sid] = route.connection
    if not await lifecycle.started(
        ctx.database, scope, sid, route.via, route.peer_node, route.node_signature
    ):
        # Terminated while the route was reached.
        ctx.live.pop(sid, None)
        await client.close()
        await route.connection.close()
        return
    ended = SpliceEnd.A_ENDED
    peer_watch = asyncio.create_task(watch_peer(ctx, route))
    try:
        ended = await splice(client, route.connection, idle_timeout_s=ctx.idle_timeout_s)
    finally:
        peer_watch.cancel()
        ctx.live.pop(sid, None)
        await asyncio.shield(_end(ctx, scope, sid, route, ended))


async def _end(
    ctx: ProxyContext, scope: AuditScope, sid: str, route: Route, ended: SpliceEnd
) -> None:
    state, error, code = SessionState.COMPLETED, "", ""
    if ended is SpliceEnd.IDLE:
        error, code = f"ended after {ctx.idle_timeout_s:g} s without traffic", "idle_timeout"
    elif ended is SpliceEnd.B_ENDED and (lost := route.lost or await lost_peer(ctx, route)):
        state, error, code = SessionState.FAILED, lost, "peer_lost"
    how = End(
        state,
        error=error,
        code=code,
        bytes_in=route.connection.bytes_in,
        bytes_out=route.connection.bytes_out,
    )
    await lifecycle.ended(ctx.database, scope, sid, how)
