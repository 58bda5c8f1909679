"""A tunnel attached to a session on the main: claim it, reach guacd, relay, end, keep the
recordings. The whole life of one session on the main node, in order."""

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import timedelta

from pamnode.audit.service import AuditScope
from pamnode.core.errors import Conflict, Forbidden, NotFound, PamError
from pamnode.db.base import utcnow
from pamnode.identity.principal import Principal
from pamnode.peers.links import link_dropped
from pamnode.sessions import lifecycle, recordings, states
from pamnode.sessions.connect import Upstream, connect
from pamnode.sessions.context import Joinable, SessionContext
from pamnode.sessions.guacamole.handshake import UPSTREAM_ERROR, Display
from pamnode.sessions.guacamole.protocol import ProtocolError, encode
from pamnode.sessions.models import Session
from pamnode.sessions.opening import ATTACH_WITHIN_S, require_connect
from pamnode.sessions.relay import ClientChannel, RelayEnd, relay, tunnel_id
from pamnode.sessions.states import End, SessionState

log = logging.getLogger("pamnode.sessions")

# Guacamole status codes for how a tunnel ends.
SUCCESS = 0x0000
RESOURCE_NOT_FOUND = 0x0204
RESOURCE_CONFLICT = 0x0205
CLIENT_FORBIDDEN = 0x0303
SESSION_CLOSED = 0x0209
# The session's route went silent or closed (Guacamole's "upstream unavailable").
LOST = 0x0208
_REFUSALS = {NotFound: RESOURCE_NOT_FOUND, Forbidden: CLIENT_FORBIDDEN, Conflict: RESOURCE_CONFLICT}


async def _claim(ctx: SessionContext, principal: Principal, session_id: str) -> None:
    """Only whoever opened the session may attach, once, while it still may connect to the
    asset (a grant revoked since the opening counts); others learn nothing of it."""
    async with ctx.database() as db:
        session = await db.get(Session, session_id)
        if (
            session is None
            or session.site_id != principal.site.id
            or session.origin != "local"
            or session.user_id != principal.user.id
        ):
            raise NotFound(f"you have no session {session_id[:40]}", code="session_not_found")
        await require_connect(db, principal, session.asset_id, session.asset_name)
    if session.created_at < utcnow() - timedelta(seconds=ATTACH_WITHIN_S):
        raise Conflict(
            f"session {session_id} was opened too long ago: open a new one",
            code="session_unattached",
        )
    async with ctx.database.begin() as db:
        claimed = await states.claim(db, session_id, ctx.node_name)
    if not claimed:
        raise Conflict(
            f"session {session_id} is already attached or has ended: open a new one",
            code="session_attached",
        )


async def run(
    ctx: SessionContext,
    principal: Principal,
    session_id: str,
    client: ClientChannel,
    display: Display,
) -> None:
    try:
        await _claim(ctx, principal, session_id)
    except (NotFound, Conflict, Forbidden) as exc:
        await refuse(client, exc)
        return
    scope = principal.audit_scope
    try:
        upstream = await connect(ctx, session_id, display)
    except PamError as exc:
        failed = End(SessionState.FAILED, error=exc.message, code=exc.code)
        await lifecycle.ended(ctx.database, scope, session_id, failed)
        await close_with_error(client, exc.message, UPSTREAM_ERROR)
        return
    peer = upstream.peer.name if upstream.peer else None
    # Known before the start is: a terminate that finds the session active finds its upstream.
    ctx.live[session_id] = upstream.stream
    if not await lifecycle.started(
        ctx.database, scope, session_id, upstream.gateway, peer, upstream.node_signature
    ):
        ctx.live.pop(session_id, None)
        await upstream.stream.close()
        await close_with_error(client, lifecycle.NOT_STARTED, SESSION_CLOSED)
        return
    joinable = ctx.joinable[session_id] = Joinable(
        upstream.connection, upstream.peer, upstream.silence_s
    )
    ending = RelayEnd()
    # A gateway reached through its peer's link: that link's number now.
    link = upstream.peer.api.link if upstream.peer else None
    epoch = ctx.peers.links.epoch(link) if link else None
    try:
        await client.send(tunnel_id(session_id))
        ending = await relay(client, upstream.stream, upstream.silence_s)
    except (OSError, ProtocolError) as exc:
        ending = RelayEnd(error=f"the tunnel broke: {exc}")
    finally:
        dropped = link_dropped(ctx.peers.links, link, epoch)
        if dropped and not ending.error:
            # The gateway's side closed because the link under it did: that is the loss.
            ending = replace(ending, lost=dropped)
        ctx.live.pop(session_id, None)
        ctx.joinable.pop(session_id, None)
        joinable.ended = True
        for watcher in joinable.watchers:
            # Their relays see the close and end the watches.
            watcher.writer.close()
        # Shielded: a client that goes away mid-write still leaves the session's end recorded.
        how = await asyncio.shield(_finish(ctx, scope, session_id, upstream, ending, client))
    await client.close(SUCCESS if not how.error else UPSTREAM_ERROR, how.error or "session ended")


async def refuse(client: ClientChannel, exc: NotFound | Conflict | Forbidden) -> None:
    """Tell the client why it may not attach, with the Guacamole status of that refusal."""
    status = next(code for kind, code in _REFUSALS.items() if isinstance(exc, kind))
    await close_with_error(client, exc.message, status)


async def close_with_error(client: ClientChannel, message: str, status: int) -> None:
    # The browser shows an `error` instruction's message; it needs the tunnel id first.
    await client.send(tunnel_id("") + encode("error", message, str(status)))
    await client.close(status, message)


def _lost(upstream: Upstream, ending: RelayEnd, terminated_by: str | None) -> PamError | None:
    """The loss of the session's route, if the relay saw one that nobody here caused (a
    Terminate, or its user's deletion, closes the upstream too: those note who ended it)."""
    if not ending.lost or terminated_by:
        return None
    if upstream.peer is None:
        return PamError(f"this node's guacd was lost: {ending.lost}", code="gateway_lost")
    return PamError(
        f"peer node '{upstream.peer.name}' was lost in the middle of the session: "
        f"{ending.lost} ({upstream.gateway})",
        code="peer_lost",
    )


async def _tell(client: ClientChannel, message: str, status: int) -> None:
    """Why the session ends, told at once (the recordings may take a while)."""
    with contextlib.suppress(OSError):
        await client.send(encode("error", message, str(status)))


async def _finish(
    ctx: SessionContext,
    scope: AuditScope,
    session_id: str,
    upstream: Upstream,
    ending: RelayEnd,
    client: ClientChannel,
) -> End:
    terminated_by = (await states.read(ctx.database, session_id)).terminated_by
    lost = _lost(upstream, ending, terminated_by)
    if lost is not None:
        log.warning("session %s: %s", session_id, lost.message)
        await _tell(client, f"{lost.message} ({lost.code})", LOST)
    elif terminated_by and not ending.error:
        await _tell(client, f"{terminated_by} terminated the session", SESSION_CLOSED)
    directory = ctx.recording_dir(session_id)
    kept: list[str] = []
    problem, waiting_on = "", None
    if upstream.peer is None:
        kept = await recordings.settled(directory)
    elif lost is not None:
        waiting_on = upstream.peer.peer_id
    else:
        fetched = await recordings.fetch_from_peer(
            ctx.peers, upstream.peer.api, session_id, directory
        )
        kept, problem = fetched.stored, fetched.gone
        if fetched.pending:
            log.warning("session %s: %s; asked again later", session_id, fetched.pending)
            waiting_on = upstream.peer.peer_id
    if problem:
        log.warning("session %s: %s", session_id, problem)
    # guacd's own error (the host unreachable, the login refused) fails the session.
    error = lost.message if lost is not None else ending.error
    code = lost.code if lost is not None else "remote_error" if ending.error else ""
    how = End(
        SessionState.FAILED if error else SessionState.COMPLETED,
        error="; ".join(part for part in (error, problem) if part),
        code=code,
        bytes_in=upstream.stream.bytes_in,
        bytes_out=upstream.stream.bytes_out,
        recordings=kept,
        recordings_on=waiting_on,
    )
    await lifecycle.ended(ctx.database, scope, session_id, how, directory)
    return how
