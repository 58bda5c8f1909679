"""Where a session is carried: through a peer's gateway when its asset has any (the selection
rule of `pamnode.peers.selection`), else by this node's own guacd.

Failover happens only before guacd's `ready`: a gateway that cannot be reached, refuses the
ticket, presents another certificate or is not ready in time is an attempt, and the dial
(`pamnode.peers.routing`) tries the next peer. A session is never moved once it runs.
"""

import asyncio
from collections.abc import Awaitable
from dataclasses import asdict, dataclass

from pamnode.assets.credentials import Credential, CredentialIn
from pamnode.assets.models import Asset, AssetHostKey
from pamnode.audit.service import AuditScope
from pamnode.audit.targets import allowed_destination
from pamnode.core.errors import PeerFailure, Unavailable
from pamnode.identity.models import Site, Tenant
from pamnode.peers.routing import Candidate, Failover, dial, plan_dial
from pamnode.peers.selection import Purpose
from pamnode.sessions.attempts import recorder
from pamnode.sessions.context import SessionContext
from pamnode.sessions.guacamole.handshake import Display, GuacdRefused, handshake
from pamnode.sessions.guacamole.protocol import ProtocolError, encode
from pamnode.sessions.guacamole.stream import GuacStream
from pamnode.sessions.models import Session
from pamnode.sessions.params import connection_params
from pamnode.sessions.relay import SILENCE_S
from pamnode.sessions.wire import TICKET_OPCODE, PeerSessionIn, PeerSessionTicket, SessionTargetIn

# From connecting to the front until `ready`: TLS, the ticket check and guacd's handshake.
READY_TIMEOUT_S = 30.0

FAILOVER = Failover("session", "no gateway could carry the session", code="all_gateways_failed")


@dataclass
class Upstream:
    """A session's connection to guacd (directly or through a front), past `ready`."""

    stream: GuacStream
    gateway: str
    peer: Candidate | None
    node_signature: str
    # guacd's id of the connection (on the peer's guacd, through a peer), for a Monitor.
    connection: str = ""
    # How long the upstream may say nothing before it is taken for lost: only a peer's front
    # that keeps itself alive (its ticket says so) is watched; this node's guacd is silent
    # while a session is idle.
    silence_s: float | None = None


@dataclass(frozen=True)
class _Where:
    """The session's target as it was asked for (and the host key pinned for it)."""

    session_id: str
    asset_name: str
    protocol: str
    host: str
    port: int
    known_host_key: str | None


@dataclass(frozen=True)
class _Plan:
    session: _Where
    credential: Credential
    candidates: list[Candidate]
    tenant: str
    site: str
    # Who asked for it, for the audit of a target this node refuses.
    scope: AuditScope


async def _plan(ctx: SessionContext, session_id: str) -> _Plan:
    async with ctx.database.begin() as db:
        session = await db.get(Session, session_id)
        assert session is not None
        site = await db.get(Site, session.site_id)
        asset = await db.get(Asset, session.asset_id) if session.asset_id else None
        if site is None or asset is None:
            raise Unavailable("the asset no longer exists", code="asset_gone")
        tenant = await db.get(Tenant, site.tenant_id)
        assert tenant is not None
        dialing = await plan_dial(db, ctx.keyring, ctx.rng, tenant.id, asset.id, Purpose.SESSIONS)
        pinned = await db.get(AssetHostKey, asset.id)
        where = _Where(
            session.id,
            session.asset_name,
            session.protocol,
            session.target["host"],
            session.target["port"],
            pinned.key if pinned else None,
        )
    scope = AuditScope(tenant.name, site.name, session.requested_by, "")
    return _Plan(where, dialing.credential, dialing.candidates, tenant.name, site.name, scope)


async def connect(ctx: SessionContext, session_id: str, display: Display) -> Upstream:
    """Reach guacd for the session, recording every attempt; PamError when none succeeds."""
    plan = await _plan(ctx, session_id)
    here = f"{ctx.guacd.address} (this node)"

    def through(candidate: Candidate) -> Awaitable[Upstream]:
        return _ready(candidate.listening.address, _through(ctx, plan, candidate, display))

    return await dial(
        plan.candidates,
        through,
        recorder(ctx.database, session_id, here),
        ctx.metrics,
        FAILOVER,
        here=lambda: _ready(here, _here(ctx, plan, display)),
    )


async def _ready(gateway: str, opening: Awaitable[Upstream]) -> Upstream:
    try:
        return await asyncio.wait_for(opening, READY_TIMEOUT_S)
    except TimeoutError as exc:
        raise PeerFailure(
            f"no 'ready' from {gateway} within {READY_TIMEOUT_S:.0f} s", code="gateway_timeout"
        ) from exc


async def _here(ctx: SessionContext, plan: _Plan, display: Display) -> Upstream:
    destination = await allowed_destination(
        ctx.destinations,
        ctx.database,
        plan.scope,
        plan.session.host,
        plan.session.port,
        via="session",
        session=plan.session.session_id,
    )
    params = connection_params(
        plan.session.protocol,
        destination.address,
        plan.session.port,
        plan.credential,
        plan.session.session_id,
        plan.session.known_host_key,
    )
    stream = await ctx.guacd.connect()
    try:
        connection = await handshake(stream, plan.session.protocol, params, display)
    except (GuacdRefused, ProtocolError, OSError) as exc:
        await stream.close()
        raise Unavailable(f"guacd refused the session: {exc}", code="gateway_refused") from exc
    signature = ctx.signature(plan.tenant, plan.site)
    return Upstream(stream, f"{ctx.guacd.address} (this node)", None, signature, connection)


async def _through(
    ctx: SessionContext, plan: _Plan, candidate: Candidate, display: Display
) -> Upstream:
    body = PeerSessionIn(
        id=plan.session.session_id,
        asset_name=plan.session.asset_name,
        target=SessionTargetIn(
            host=plan.session.host,
            port=plan.session.port,
            protocol=plan.session.protocol,
            known_host_key=plan.session.known_host_key,
        ),
        credential=CredentialIn(**asdict(plan.credential)),
    )
    ticket = await ctx.peers.exchange(
        candidate.api, "POST", "peer/sessions", PeerSessionTicket, body
    )
    stream, connection = await through_front(ctx, candidate, ticket.ticket, display)
    return Upstream(
        stream,
        candidate.listening.address,
        candidate,
        ticket.node_signature,
        connection,
        silence_for(ticket),
    )


def silence_for(ticket: PeerSessionTicket) -> float | None:
    """The silence after which a front is taken for lost, if its peer keeps it alive."""
    return SILENCE_S if ticket.keep_alive_s is not None else None


async def through_front(
    ctx: SessionContext, candidate: Candidate, ticket: str, display: Display
) -> tuple[GuacStream, str]:
    """The peer's gateway front with a ticket, past its `ready`: the stream and guacd's
    connection id; PeerFailure when it refuses or drops the connection."""
    gateway = candidate.listening
    reader, writer = await ctx.peers.open_listener(gateway)
    stream = GuacStream(reader, writer)
    try:
        await stream.send(encode(TICKET_OPCODE, ticket, *display.args()))
        answer = await stream.read_instruction()
    except (OSError, ProtocolError) as exc:
        await stream.close()
        raise PeerFailure(
            f"the gateway {gateway.address} dropped the connection: {exc}", code="gateway_refused"
        ) from exc
    if answer.opcode != "ready":
        await stream.close()
        said = answer.args[0] if answer.opcode == "error" and answer.args else answer.opcode
        raise PeerFailure(f"the gateway {gateway.address} refused: {said}", code="gateway_refused")
    return stream, answer.args[0] if answer.args else ""
