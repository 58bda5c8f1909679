"""The peer side of sessions: grant a ticket for one session, hand out its recordings.

The credential that comes with a session lives only in the ticket book (memory) until the
gateway front injects it into guacd's `connect`; it is never written to this node's database.
The target is checked against this node's own destination policy, and guacd is given the
address it resolved to.
"""

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.credentials import Credential
from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.audit.targets import allowed_destination
from pamnode.core.errors import Conflict, NotFound, Unavailable
from pamnode.identity.principal import Principal
from pamnode.peers.serving import require_peer_caller
from pamnode.sessions import recordings
from pamnode.sessions.context import SessionContext
from pamnode.sessions.ids import checked
from pamnode.sessions.models import Channel, Session
from pamnode.sessions.params import connection_params
from pamnode.sessions.relay import KEEP_ALIVE_S
from pamnode.sessions.states import ENDED, SessionState, end_unattached
from pamnode.sessions.tickets import Grant
from pamnode.sessions.wire import PeerSessionIn, PeerSessionTicket, PeerWatchIn


async def grant(
    db: AsyncSession, ctx: SessionContext, principal: Principal, body: PeerSessionIn
) -> PeerSessionTicket:
    require_peer_caller(principal)
    # Before anything is written or guacd sees it: its recording path is built from the id.
    checked(body.id)
    if ctx.gateway_address is None:
        raise Unavailable(
            "this node runs no gateway: start it with --gateway-port to carry sessions",
            code="gateway_not_running",
        )
    # A ticket lives seconds: a session whose ticket went unused is over.
    await end_unattached(db, principal.site.id, "peer", 2 * ctx.tickets.ttl_s)
    if await db.get(Session, body.id) is not None:
        raise Conflict(f"session id {body.id} is already used on this node", "session_id_taken")
    target = body.target
    destination = await allowed_destination(
        ctx.destinations,
        db,
        principal.audit_scope,
        target.host,
        target.port,
        via="session ticket",
        session=body.id,
    )
    signature = ctx.signature(principal.tenant.name, principal.site.name)
    db.add(
        Session(
            id=body.id,
            site_id=principal.site.id,
            origin="peer",
            asset_name=body.asset_name,
            protocol=target.protocol,
            channel=Channel(target.protocol.upper()),
            target={"host": target.host, "port": target.port},
            state=SessionState.PENDING,
            requested_by=f"{principal.user.login} (main node)",
            gateway=ctx.gateway_address,
            node_signature=signature,
        )
    )
    record(
        db,
        principal.audit_scope,
        AuditAction.SESSION_ACCEPT,
        body.asset_name or target.host,
        session=body.id,
        protocol=target.protocol,
        host=target.host,
    )
    # Committed before the ticket exists: the front finds the session it lets through.
    await db.commit()
    params = connection_params(
        target.protocol,
        destination.address,
        target.port,
        Credential(**body.credential.model_dump()),
        body.id if body.recording else None,
        target.known_host_key,
    )
    scope = principal.audit_scope
    ticket = ctx.tickets.issue(
        Grant(body.id, target.protocol, params, signature, scope.tenant, scope.site)
    )
    return PeerSessionTicket(
        id=body.id,
        ticket=ticket,
        expires_in_s=ctx.tickets.ttl_s,
        node_signature=signature,
        keep_alive_s=KEEP_ALIVE_S,
    )


async def recording(
    db: AsyncSession, ctx: SessionContext, principal: Principal, session_id: str, kind: str
) -> Path:
    require_peer_caller(principal)
    session = await db.get(Session, session_id)
    if session is None or session.site_id != principal.site.id or session.origin != "peer":
        raise NotFound(f"this peer carried no session {session_id[:40]}", "session_not_found")
    if session.state not in ENDED:
        raise Conflict(
            "the session has not ended; its recording is still being written",
            code="recording_being_written",
        )
    return recordings.readable(ctx.recording_dir(session_id), kind)


async def watch(
    db: AsyncSession,
    ctx: SessionContext,
    principal: Principal,
    session_id: str,
    body: PeerWatchIn,
) -> PeerSessionTicket:
    """A ticket with which the front lets one Monitor join a session it carries, read-only."""
    require_peer_caller(principal)
    session = await db.get(Session, session_id)
    joinable = ctx.joinable.get(session_id)
    if (
        session is None
        or session.site_id != principal.site.id
        or session.origin != "peer"
        or joinable is None
    ):
        raise NotFound(f"this peer carries no session {session_id[:40]} now", "session_not_found")
    record(
        db,
        principal.audit_scope,
        AuditAction.SESSION_WATCH,
        session.asset_name,
        session=session_id,
        watcher=body.watcher,
    )
    await db.commit()
    scope = principal.audit_scope
    grant = Grant(
        session_id,
        joinable.connection,
        {"read-only": "true"},
        session.node_signature or "",
        scope.tenant,
        scope.site,
        join=True,
    )
    return PeerSessionTicket(
        id=session_id,
        ticket=ctx.tickets.issue(grant),
        expires_in_s=ctx.tickets.ttl_s,
        node_signature=grant.node_signature,
        keep_alive_s=KEEP_ALIVE_S,
    )
