"""Reports > Sessions (the list and a session's details), terminating one, its recordings."""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from pamnode.db.pages import Page, page_of
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.peers.serving import signed_by
from pamnode.sessions import recordings, states
from pamnode.sessions.context import SessionContext
from pamnode.sessions.models import Channel, Session
from pamnode.sessions.states import UNSTARTED, End, SessionState

TERMINATED = End(SessionState.COMPLETED, error="terminated")
# How long Terminate waits for the relay to record the end (it fetches the recordings first).
TERMINATE_WAIT_S = 30.0


@dataclass(frozen=True)
class SessionFilter:
    asset_id: str | None = None
    state: str | None = None
    node: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # The asset's id, or the name it had then (the search's filter: a person types a name).
    asset: str | None = None
    # The login that opened it, and the peer node that carried it.
    user: str | None = None
    peer: str | None = None


async def count_in_progress(db: AsyncSession) -> list[tuple[str, int]]:
    """Sessions connecting or active on this node, by protocol (`GET /metrics`)."""
    rows = await db.execute(
        select(Session.protocol, func.count())
        .where(Session.state.in_([SessionState.CONNECTING, SessionState.ACTIVE]))
        .group_by(Session.protocol)
    )
    return [(protocol, count) for protocol, count in rows]


def _visible(principal: Principal) -> Select[Session]:
    query = select(Session).where(Session.site_id == principal.site.id, Session.origin == "local")
    if not principal.can(Permission.SESSIONS_READ):
        query = query.where(Session.user_id == principal.user.id)
    return query


def visible(principal: Principal, where: SessionFilter) -> Select[Session]:
    """The sessions of the report that `principal` may read, filtered (the search across
    sessions finds only these)."""
    query = _visible(principal)
    if where.asset_id:
        query = query.where(Session.asset_id == where.asset_id)
    if where.state:
        query = query.where(Session.state == where.state)
    if where.node:
        query = query.where(signed_by(Session.node_signature, where.node))
    if where.since:
        query = query.where(Session.created_at >= where.since)
    if where.until:
        query = query.where(Session.created_at < where.until)
    if where.asset:
        query = query.where((Session.asset_id == where.asset) | (Session.asset_name == where.asset))
    if where.user:
        query = query.where(Session.requested_by == where.user)
    if where.peer:
        query = query.where(Session.peer_node == where.peer)
    return query


async def list_sessions(
    db: AsyncSession, principal: Principal, where: SessionFilter, limit: int, offset: int
) -> Page:
    order = (Session.created_at.desc(), Session.id)
    return await page_of(db, visible(principal, where), order, limit, offset)


async def get_session(db: AsyncSession, principal: Principal, session_id: str) -> Session:
    session = await db.scalar(_visible(principal).where(Session.id == session_id))
    if session is None:
        raise NotFound(f"this site has no session {session_id[:80]}", code="session_not_found")
    return session


def may_terminate(principal: Principal, session: Session) -> bool:
    """Whoever opened the session, or who may terminate any."""
    return session.user_id == principal.user.id or principal.can(Permission.SESSIONS_TERMINATE)


# The channels drawn by guacd, which a Monitor joins, and the SSH proxy's shell, whose
# typescript it shows live.
WATCHABLE = frozenset({Channel.SSH, Channel.RDP, Channel.VNC, Channel.SSHP_SHELL})


def may_watch(principal: Principal, session: Session) -> bool:
    """Monitor: a running gateway session or SSH-proxy shell, for who may read every session
    of the site."""
    return (
        session.state == SessionState.ACTIVE
        and session.channel in WATCHABLE
        and principal.can(Permission.SESSIONS_READ)
    )


async def terminate(
    db: AsyncSession, ctx: SessionContext, principal: Principal, session_id: str
) -> Session:
    session = await get_session(db, principal, session_id)
    if not may_terminate(principal, session):
        raise Forbidden(
            "only whoever opened a session, or a site administrator, may terminate it",
            code="permission_denied",
        )
    if not await states.terminating(db, session_id, principal.user.login):
        await db.refresh(session)
        raise InvalidInput(
            f"session {session_id} has already ended ({session.state})", code="session_finished"
        )
    record(
        db,
        principal.audit_scope,
        AuditAction.SESSION_TERMINATE,
        session.asset_name,
        session=session_id,
    )
    # Not carried yet (no tunnel attached, or one still reaching its gateway): it ends here,
    # and the carrier's claim or start that comes after finds it ended and lets it go.
    stopped = await states.end(db, session_id, TERMINATED, before=UNSTARTED)
    # Committed before acting: the carrier's own end writes must not wait on this request.
    await db.commit()
    upstream = None if stopped else ctx.live.get(session_id)
    if upstream is not None:
        # The relay sees its upstream close, disconnects every hop and records the end.
        upstream.writer.close()
        return await states.ended(ctx.database, session_id, TERMINATE_WAIT_S)
    return await states.read(ctx.database, session_id)


async def recording_file(
    db: AsyncSession, ctx: SessionContext, principal: Principal, session_id: str, kind: str
) -> Path:
    session = await get_session(db, principal, session_id)
    if session.recordings_removed_at is not None:
        recordings.check_kind(kind)
        removed = session.recordings_removed_at.strftime("%Y-%m-%d %H:%M UTC")
        raise NotFound(
            f"the recordings of session {session_id} were removed by the site's retention "
            f"on {removed}",
            code="recording_removed",
        )
    if kind not in session.recordings:
        recordings.check_kind(kind)
        if session.recordings_pending:
            raise Conflict(
                f"session {session_id}'s recordings are still on peer node "
                f"'{session.peer_node}': this node fetches them when the peer answers again",
                code="recording_pending",
            )
        raise NotFound(f"session {session_id} has no {kind} on this node", code="recording_missing")
    return recordings.readable(ctx.recording_dir(session.id), kind)
