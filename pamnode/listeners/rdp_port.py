"""The RDP pass-through's one-time port: a listener on a free port of the main, opened when a
user asks for a pass-through (`POST assets/{id}/rdp-proxy`). The first connection from the
address that asked for it, within `proxy.rdp.ATTACH_WITHIN_S`, is handed to `proxy/rdp.py`;
any other is turned away; the port then closes."""

import asyncio
import logging

from pamnode.core.streams import Connection
from pamnode.identity.principal import Principal
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.opening import Opened
from pamnode.proxy.rdp import ATTACH_WITHIN_S, RdpOffer, carry_rdp, open_rdp_session, unattached

log = logging.getLogger("pamnode.proxy.rdp")


async def open_rdp_proxy(
    ctx: ProxyContext, principal: Principal, asset_ref: str, bind_host: str, advertised: str
) -> RdpOffer:
    """Open the session and its port (listening on `bind_host`, named `advertised` in the
    offer); the client is waited for and carried in the background."""
    opened = await open_rdp_session(ctx, principal, asset_ref)
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
    task = asyncio.create_task(_wait_and_carry(ctx, principal, opened, server, port, arrived))
    ctx.background.add(task)
    task.add_done_callback(ctx.background.discard)
    return RdpOffer(opened.session_id, opened.asset_name, advertised, port, ATTACH_WITHIN_S)


async def _wait_and_carry(
    ctx: ProxyContext,
    principal: Principal,
    opened: Opened,
    server: asyncio.Server,
    port: int,
    arrived: "asyncio.Future[Connection]",
) -> None:
    try:
        client = await asyncio.wait_for(arrived, ATTACH_WITHIN_S)
    except TimeoutError:
        await unattached(ctx, opened)
        return
    finally:
        server.close()
        ctx.rdp_ports.discard(port)
    await carry_rdp(ctx, principal, opened, client)
