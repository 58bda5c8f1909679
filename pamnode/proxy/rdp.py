"""RDP pass-through: an RDP client's TCP stream carried to the asset's RDP port, straight or
through the peer's HTTP proxy (the RDP protocol of `proxy/carrying.py`).

The session (Channel RDPP) opens when the user asks for it (`open_rdp_session`); its client
connects later to a one-time port of the main (`listeners/rdp_port.py`), and is then carried
(`carry_rdp`). The bytes are not looked at (they are TLS between the client and the host): the
session records bytes and duration, and no screen. The client logs in to the host itself;
the vault's credential is not used (a gateway session injects it instead).
"""

from dataclasses import dataclass

from pamnode.audit.targets import allowed_destination
from pamnode.core.errors import PamError
from pamnode.core.streams import Connection, SpliceEnd, splice
from pamnode.identity.principal import Principal
from pamnode.proxy.carrying import Outcome, carry_session, end_unstarted
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.opening import Opened, open_proxy_session, require_standing
from pamnode.proxy.route import Route, lost_peer
from pamnode.sessions import states
from pamnode.sessions.models import Channel

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


async def open_rdp_session(ctx: ProxyContext, principal: Principal, asset_ref: str) -> Opened:
    """The opened session, or the PamError that says why not. A target this node would refuse
    to connect to itself is said now rather than once a client attached (the route checks
    again, and connects to the address it resolved then)."""
    opened = await open_proxy_session(ctx, principal, asset_ref, Channel.RDPP)
    if not opened.candidates:
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
            await end_unstarted(ctx, opened, Outcome.failed(exc.message, code=exc.code))
            raise
    return opened


async def unattached(ctx: ProxyContext, opened: Opened) -> None:
    """No client came to the one-time port in time."""
    outcome = Outcome.failed(
        f"no RDP client connected within {ATTACH_WITHIN_S:g} s", code="session_unattached"
    )
    await end_unstarted(ctx, opened, outcome)


async def carry_rdp(
    ctx: ProxyContext, principal: Principal, opened: Opened, client: Connection
) -> None:
    """Carry the client that came to the session's port, to the end of the session."""
    async with ctx.database.begin() as db:
        claimed = await states.claim(db, opened.session_id, ctx.node_name)
    if not claimed:
        # Terminated while it waited for its client.
        await client.close()
        return
    try:
        # The port was asked for a while ago: its user is read again.
        await require_standing(ctx, principal, opened)
    except PamError as exc:
        await client.close()
        await end_unstarted(ctx, opened, Outcome.failed(exc.message, code=exc.code))
        return
    await carry_session(ctx, opened, _RdpCarrier(ctx, client))


class _RdpCarrier:
    """The client's stream spliced to the route as it is (the route is the target's side)."""

    def __init__(self, ctx: ProxyContext, client: Connection) -> None:
        self.ctx = ctx
        self.client = client
        self._route: Connection | None = None

    async def connect(self, opened: Opened, route: Route) -> None:
        self._route = route.connection

    async def carry(self, route: Route) -> Outcome:
        ended = await splice(self.client, route.connection, idle_timeout_s=self.ctx.idle_timeout_s)
        if ended is SpliceEnd.IDLE:
            return Outcome(
                error=f"ended after {self.ctx.idle_timeout_s:g} s without traffic",
                code="idle_timeout",
            )
        if ended is SpliceEnd.B_ENDED and (lost := route.lost or await lost_peer(self.ctx, route)):
            return Outcome.failed(lost, code="peer_lost")
        return Outcome()

    async def close(self) -> None:
        await self.client.close()
        if self._route is not None:
            await self._route.close()

    def recordings(self) -> list[str]:
        return []
