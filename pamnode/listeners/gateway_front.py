"""The gateway front: TLS with the node's certificate in front of this node's guacd.

guacd authenticates nobody, so the front lets a connection through only with a one-time
ticket (`pamnode.sessions.tickets`) granted over the pinned API. The main's first instruction
is `ticket,<ticket>,<width>,<height>,<dpi>,<timezone>`; anything else, an unknown, used or
expired ticket, or silence closes the connection before guacd sees a byte. With a good ticket
the front itself makes guacd's handshake with the ticket's parameters (target, credential,
recording paths), answers `ready` and then carries the session both ways: the main's bytes
untouched, guacd's as whole instructions with a `nop` in every silence of KEEP_ALIVE_S, so a
main can tell an idle session from a lost peer.
"""

import asyncio
import contextlib
import logging
import ssl

from pamnode.audit.service import AuditScope
from pamnode.core.errors import PamError
from pamnode.core.streams import READ_BYTES
from pamnode.listeners.tls_server import TlsServer
from pamnode.sessions import lifecycle, recordings
from pamnode.sessions.context import Joinable, SessionContext
from pamnode.sessions.guacamole.handshake import (
    UNAUTHORIZED,
    UPSTREAM_ERROR,
    Display,
    GuacdRefused,
    handshake,
)
from pamnode.sessions.guacamole.protocol import ProtocolError, encode
from pamnode.sessions.guacamole.stream import GuacStream
from pamnode.sessions.relay import KEEP_ALIVE_S
from pamnode.sessions.states import End, SessionState
from pamnode.sessions.tickets import Grant
from pamnode.sessions.wire import TICKET_OPCODE

log = logging.getLogger("pamnode.gateway")

# A main sends its ticket at once; a connection that says nothing is dropped.
FIRST_INSTRUCTION_TIMEOUT_S = 10.0
HANDSHAKE_TIMEOUT_S = 30.0


class GatewayFront:
    def __init__(self, ctx: SessionContext, tls: ssl.SSLContext) -> None:
        self.ctx = ctx
        self.server = TlsServer(self._serve, tls)

    async def start(self, host: str, port: int, advertised: str) -> None:
        await self.server.start(host, port)
        self.ctx.gateway_address = advertised

    def announce(self) -> str:
        return (
            f"gateway front (remote sessions) on {self.ctx.gateway_address}, "
            "with the same certificate: a main's Gateway Address"
        )

    async def close(self) -> None:
        await self.server.close()
        self.ctx.gateway_address = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = GuacStream(reader, writer)
        source = str(writer.get_extra_info("peername") or "")
        try:
            admitted = await self._admit(client, source)
        except (OSError, ProtocolError, TimeoutError) as exc:
            log.warning("gateway: dropped a connection from %s: %s", source, exc)
            admitted = None
        if admitted is None:
            await client.close()
            return
        grant, display = admitted
        await self._carry(client, grant, display, source)

    async def _admit(self, client: GuacStream, source: str) -> tuple[Grant, Display] | None:
        first = await asyncio.wait_for(client.read_instruction(), FIRST_INSTRUCTION_TIMEOUT_S)
        if first.opcode != TICKET_OPCODE or not first.args:
            await _turn_away(client, source, "the first instruction must carry a session ticket")
            return None
        try:
            grant = self.ctx.tickets.redeem(first.args[0])
        except PamError as exc:
            await _turn_away(client, source, exc.message)
            return None
        return grant, Display.of(first.args[1:])

    async def _join(self, client: GuacStream, grant: Grant, display: Display) -> None:
        """A Monitor's connection: joins the session's running connection on guacd, read-only;
        the session's row is its owner's to start and end."""
        try:
            upstream = await self.ctx.guacd.connect()
            connection = await asyncio.wait_for(
                handshake(upstream, grant.protocol, grant.params, display), HANDSHAKE_TIMEOUT_S
            )
        except (GuacdRefused, PamError, OSError, TimeoutError, ProtocolError) as exc:
            message = getattr(exc, "message", None) or f"guacd did not answer: {exc}"
            await _send_error(client, f"the session could not be joined: {message}", UPSTREAM_ERROR)
            await client.close()
            return
        await client.send(encode("ready", connection))
        await _carry_alive(client, upstream)

    async def _carry(self, client: GuacStream, grant: Grant, display: Display, source: str) -> None:
        if grant.join:
            await self._join(client, grant, display)
            return
        scope = AuditScope(grant.tenant, grant.site, "gateway", source)
        try:
            upstream = await self.ctx.guacd.connect()
            connection = await asyncio.wait_for(
                handshake(upstream, grant.protocol, grant.params, display), HANDSHAKE_TIMEOUT_S
            )
        except (GuacdRefused, PamError, OSError, TimeoutError, ProtocolError) as exc:
            message = getattr(exc, "message", None) or f"guacd did not answer: {exc}"
            status = exc.status if isinstance(exc, GuacdRefused) else UPSTREAM_ERROR
            await _send_error(client, message, status)
            await client.close()
            await self._end(grant, scope, SessionState.FAILED, message)
            return
        gateway = self.ctx.gateway_address or ""
        if not await lifecycle.started(
            self.ctx.database, scope, grant.session_id, gateway, None, grant.node_signature
        ):
            # Ended meanwhile (as unattached, its ticket unused too long): nothing is carried.
            await _send_error(client, "the session has ended", UPSTREAM_ERROR)
            await upstream.close()
            await client.close()
            return
        self.ctx.joinable[grant.session_id] = Joinable(connection)
        try:
            await client.send(encode("ready", connection))
            await _carry_alive(client, upstream)
        finally:
            self.ctx.joinable.pop(grant.session_id, None)
            await self._end(
                grant,
                scope,
                SessionState.COMPLETED,
                bytes_in=upstream.bytes_in,
                bytes_out=upstream.bytes_out,
            )

    async def _end(
        self,
        grant: Grant,
        scope: AuditScope,
        state: SessionState,
        error: str = "",
        bytes_in: int = 0,
        bytes_out: int = 0,
    ) -> None:
        directory = self.ctx.recording_dir(grant.session_id)
        kept = await recordings.settled(directory)
        how = End(state, error=error, bytes_in=bytes_in, bytes_out=bytes_out, recordings=kept)
        await lifecycle.ended(self.ctx.database, scope, grant.session_id, how, directory)


async def _up(client: GuacStream, upstream: GuacStream) -> None:
    """The main to guacd, bytes as they come."""
    data = client.detach()
    while True:
        if data:
            client.bytes_in += len(data)
            upstream.writer.write(data)
            upstream.bytes_out += len(data)
            await upstream.writer.drain()
        data = await client.reader.read(READ_BYTES)
        if not data:
            return


async def _down(upstream: GuacStream, client: GuacStream) -> None:
    """guacd to the main, whole instructions, and a `nop` whenever guacd said nothing for
    KEEP_ALIVE_S."""
    while True:
        try:
            text = await asyncio.wait_for(upstream.read_text(), KEEP_ALIVE_S)
        except TimeoutError:
            text = encode("nop")
        await client.send(text)


async def _carry_alive(client: GuacStream, upstream: GuacStream) -> None:
    """Carry the session until either side closes, then close both."""
    tasks = [
        asyncio.create_task(_up(client, upstream)),
        asyncio.create_task(_down(upstream, client)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.close()
        await upstream.close()


async def _send_error(client: GuacStream, message: str, status: int) -> None:
    with contextlib.suppress(OSError):
        await client.send(encode("error", message, str(status)))


async def _turn_away(client: GuacStream, source: str, reason: str) -> None:
    log.warning("gateway: refused a connection from %s: %s", source, reason)
    await _send_error(client, f"the gateway refused the connection: {reason}", UNAUTHORIZED)
