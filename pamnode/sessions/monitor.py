"""Monitor: whoever may read Reports > Sessions of a site watches one of its running gateway
sessions live, read-only, and may Terminate it from the same page (an SSH-proxy shell is
watched the same way, as its live typescript: sessions/shell_monitor.py).

Who may: the roles with `sessions.read` on the session's own site (administrators, asset
managers, auditors), never another site's or tenant's; the session must be `active` and carried
by this node's tunnel. The watcher joins guacd's running connection (`select` with its
connection id, and `read-only`: guacd ignores its keys and mouse), and the relay passes on only
what a watcher's display must answer. Through a peer the join goes to the peer's guacd via its
gateway front, with a ticket of its own (`POST peer/sessions/{id}/watch`). Every watch is
audited (`session.watch`) and kept as a SessionWatch row (who, from, until), which the
session's details list and its owner's page shows while it lasts. A watch ends when the
watcher leaves or the session ends (its tunnel cuts its watchers).
"""

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TypeVar

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, Forbidden, NotFound, PamError, Unavailable
from pamnode.db.base import utcnow
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.sessions import states
from pamnode.sessions.connect import READY_TIMEOUT_S, through_front
from pamnode.sessions.context import Joinable, SessionContext
from pamnode.sessions.guacamole.handshake import UPSTREAM_ERROR, Display, GuacdRefused, handshake
from pamnode.sessions.guacamole.protocol import ProtocolError, encode
from pamnode.sessions.guacamole.stream import GuacStream
from pamnode.sessions.models import Session, SessionWatch
from pamnode.sessions.relay import ClientChannel, RelayEnd, relay, tunnel_id
from pamnode.sessions.states import SessionState
from pamnode.sessions.tunnel import SESSION_CLOSED, SUCCESS, close_with_error, refuse
from pamnode.sessions.wire import PeerSessionTicket, PeerWatchIn

log = logging.getLogger("pamnode.sessions")

Carried = TypeVar("Carried")

READ_ONLY = {"read-only": "true"}
# How long a watcher told why its watch ended has to leave before its tunnel is closed.
LEAVE_WITHIN_S = 5.0


async def watch(
    ctx: SessionContext,
    principal: Principal,
    session_id: str,
    client: ClientChannel,
    display: Display,
) -> None:
    try:
        watch_id, joinable = await admit(ctx, principal, session_id, ctx.joinable)
    except (NotFound, Conflict, Forbidden) as exc:
        await refuse(client, exc)
        return
    try:
        upstream = await asyncio.wait_for(
            _join(ctx, principal, session_id, joinable, display), READY_TIMEOUT_S
        )
    except (PamError, TimeoutError) as exc:
        await ended(ctx, watch_id)
        message = getattr(exc, "message", None) or "the gateway did not let the watch in in time"
        await close_with_error(client, message, UPSTREAM_ERROR)
        return
    joinable.watchers.append(upstream)
    ending = RelayEnd()
    try:
        await client.send(tunnel_id(session_id))
        ending = await relay(client, upstream, joinable.silence_s, read_only=True)
    except (OSError, ProtocolError) as exc:
        log.info("monitor of session %s ended: %s", session_id, exc)
    finally:
        joinable.watchers.remove(upstream)
        await asyncio.shield(ended(ctx, watch_id))
    if ending.lost:
        # The session ended (its tunnel cut the watch) or the route to it broke: said in
        # words, and the browser, which leaves on reading it, closes first.
        await _tell_watcher(ctx, session_id, client, joinable, ending.lost)
    await client.close(SUCCESS, "watch ended")


async def _tell_watcher(
    ctx: SessionContext, session_id: str, client: ClientChannel, joinable: Joinable, lost: str
) -> None:
    if joinable.ended:
        reason = await session_ended(ctx, session_id)
    else:
        reason = f"the watch lost its connection to the session: {lost}"
    with contextlib.suppress(OSError):
        await client.send(encode("error", reason, str(SESSION_CLOSED)))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LEAVE_WITHIN_S):
                while await client.receive() is not None:
                    pass


async def session_ended(ctx: SessionContext, session_id: str) -> str:
    """What a watcher reads when the session it watched ended."""
    # A Terminate notes who did it before it cuts the session.
    by = (await states.read(ctx.database, session_id)).terminated_by
    return f"the session ended ({by} terminated it)" if by else "the session ended"


async def admit(
    ctx: SessionContext,
    principal: Principal,
    session_id: str,
    carried_here: Mapping[str, Carried],
) -> tuple[str, Carried]:
    """The watch's row (audited) and what carries the session on this node, when the caller
    may watch it: `carried_here` holds the sessions of the kind watched that this node carries.
    """
    if not principal.can(Permission.SESSIONS_READ):
        raise Forbidden(
            "only who may read Reports > Sessions of this site may watch its sessions",
            code="permission_denied",
        )
    async with ctx.database.begin() as db:
        session = await db.get(Session, session_id)
        if session is None or session.site_id != principal.site.id or session.origin != "local":
            raise NotFound(f"this site has no session {session_id[:40]}", code="session_not_found")
        carried = carried_here.get(session_id)
        if session.state != SessionState.ACTIVE or carried is None:
            where = f" (carried by node {session.served_by})" if session.served_by else ""
            raise Conflict(
                f"session {session_id} is {session.state}{where}: only a running session "
                "can be watched, on the node that carries it",
                code="session_not_watchable",
            )
        watch_row = SessionWatch(session_id=session_id, watcher=principal.user.login)
        db.add(watch_row)
        record(
            db,
            principal.audit_scope,
            AuditAction.SESSION_WATCH,
            session.asset_name,
            session=session_id,
            owner=session.requested_by,
        )
        await db.flush()
        return watch_row.id, carried


async def _join(
    ctx: SessionContext,
    principal: Principal,
    session_id: str,
    joinable: Joinable,
    display: Display,
) -> GuacStream:
    if joinable.peer is not None:
        ticket = await ctx.peers.exchange(
            joinable.peer.api,
            "POST",
            f"peer/sessions/{session_id}/watch",
            PeerSessionTicket,
            PeerWatchIn(watcher=principal.user.login),
        )
        stream, _ = await through_front(ctx, joinable.peer, ticket.ticket, display)
        return stream
    stream = await ctx.guacd.connect()
    try:
        await handshake(stream, joinable.connection, READ_ONLY, display)
    except (GuacdRefused, ProtocolError, OSError) as exc:
        await stream.close()
        raise Unavailable(f"guacd refused the watch: {exc}", code="gateway_refused") from exc
    return stream


async def ended(ctx: SessionContext, watch_id: str) -> None:
    """The watch is over: its row says until when."""
    async with ctx.database.begin() as db:
        watch_row = await db.get(SessionWatch, watch_id)
        if watch_row is not None:
            watch_row.ended_at = utcnow()
