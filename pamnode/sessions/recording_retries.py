"""Recordings left on a peer: asked for again, with a backoff, until the peer answers.

A session whose peer was lost (or did not answer when the session ended) ends with its
recordings still on that peer (`recording_next_at` set, "recording pending" in its details).
Every node runs `keep_asking`: it takes the rows that are due, each **claimed** first by a
conditional update that moves its `recording_next_at` past a lease (only the main whose update
matched the time it read fetches; several mains on one database never fetch one twice, and a
main that dies mid-fetch leaves the row to another once the lease ends). It then fetches:
all there → kept; the peer answers that it no longer has the session (404) → the row says so
and nobody asks again; anything else (no answer, guacd still writing) → asked again after
a delay that doubles up to BACKOFF_CAP_S.
"""

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy import update as sql_update

from pamnode.core.errors import PeerFailure
from pamnode.db.base import utcnow
from pamnode.identity.models import Site
from pamnode.peers.connection import endpoint
from pamnode.peers.models import PeerNode
from pamnode.sessions import recordings
from pamnode.sessions.context import SessionContext
from pamnode.sessions.models import Session
from pamnode.sessions.recordings import Fetched

log = logging.getLogger("pamnode.sessions")

TICK_S = 2.0
BACKOFF_FIRST_S = 2.0
BACKOFF_CAP_S = 60.0
# A claimed row is left alone this long: longer than a fetch of every kind takes.
LEASE_S = 300.0
BATCH = 20


def backoff_s(tries: int) -> float:
    """The wait before the next try, after `tries` failed ones."""
    return float(min(BACKOFF_FIRST_S * 2 ** min(tries, 16), BACKOFF_CAP_S))


async def keep_asking(ctx: SessionContext) -> None:
    """Until cancelled: fetch the pending recordings that are due."""
    while True:
        try:
            await ask_due(ctx)
        except Exception:
            # A broken round (the database away a moment) must not end the retries.
            log.exception("pending recordings: a round broke")
        await asyncio.sleep(TICK_S)


async def ask_due(ctx: SessionContext) -> int:
    """One round; returns how many rows this node claimed."""
    async with ctx.database() as db:
        due = (
            await db.execute(
                select(Session.id, Session.recording_next_at)
                .where(Session.recording_next_at <= utcnow())
                .order_by(Session.recording_next_at)
                .limit(BATCH)
            )
        ).all()
    claimed = 0
    for session_id, seen in due:
        if await _claim(ctx, session_id, seen):
            claimed += 1
            await _ask(ctx, session_id)
    return claimed


async def _claim(ctx: SessionContext, session_id: str, seen: datetime | None) -> bool:
    async with ctx.database.begin() as db:
        done = await db.execute(
            sql_update(Session)
            .where(Session.id == session_id, Session.recording_next_at == seen)
            .values(recording_next_at=utcnow() + timedelta(seconds=LEASE_S))
        )
    return bool(getattr(done, "rowcount", 0))


async def _ask(ctx: SessionContext, session_id: str) -> None:
    async with ctx.database() as db:
        session = await db.get(Session, session_id)
        assert session is not None
        peer = await db.get(PeerNode, session.recording_peer_id or "")
        site = await db.get(Site, session.site_id)
        tries, error = session.recording_tries, session.error
        if peer is None or site is None:
            fetched = Fetched(gone="the peer node that carried the session was deleted")
        else:
            try:
                reach = endpoint(ctx.keyring, site.tenant_id, peer)
            except PeerFailure as exc:
                fetched = Fetched(pending=exc.message)
            else:
                fetched = None
    if fetched is None:
        fetched = await recordings.fetch_from_peer(
            ctx.peers, reach, session_id, ctx.recording_dir(session_id), patience_s=0
        )
    await _write(ctx, session_id, fetched, tries, error)


async def _write(
    ctx: SessionContext, session_id: str, fetched: Fetched, tries: int, error: str
) -> None:
    now = utcnow()
    statement = sql_update(Session).where(Session.id == session_id)
    if fetched.pending:
        wait = backoff_s(tries)
        log.info("session %s: %s; asked again in %g s", session_id, fetched.pending, wait)
        statement = statement.values(
            recording_tries=tries + 1, recording_next_at=now + timedelta(seconds=wait)
        )
    else:
        log.info("session %s: recordings fetched: %s", session_id, fetched.stored or fetched.gone)
        statement = statement.values(
            recordings=fetched.stored,
            recording_peer_id=None,
            recording_next_at=None,
            recording_tries=tries + 1,
            updated_at=now,
        )
        if fetched.gone:
            statement = statement.values(error="; ".join(p for p in (error, fetched.gone) if p))
    async with ctx.database.begin() as db:
        await db.execute(statement)
