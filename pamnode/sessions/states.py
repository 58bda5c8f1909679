"""Session states and the writes that move a session on, each in a short transaction."""

import asyncio
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.db.base import utcnow
from pamnode.sessions.models import Session, SessionAttempt


class SessionState(StrEnum):
    # Opened; the browser (or client) has not attached to its tunnel yet.
    PENDING = "pending"
    # A tunnel attached and is reaching a gateway.
    CONNECTING = "connecting"
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"


ENDED = frozenset({SessionState.COMPLETED, SessionState.FAILED})

Sessions = async_sessionmaker[AsyncSession]


async def claim(sessions: Sessions, session_id: str, node_name: str) -> bool:
    """Move a pending session to connecting, carried by this node; False if another tunnel
    (on this node or another main sharing the database) got there first."""
    async with sessions.begin() as db:
        done = await db.execute(
            sql_update(Session)
            .where(Session.id == session_id, Session.state == SessionState.PENDING)
            .values(state=SessionState.CONNECTING, served_by=node_name, updated_at=utcnow())
        )
        return bool(getattr(done, "rowcount", 0))


async def update(sessions: Sessions, session_id: str, **fields: Any) -> Session:
    async with sessions.begin() as db:
        session = await db.get(Session, session_id)
        assert session is not None, f"session {session_id} vanished"
        for name, value in fields.items():
            setattr(session, name, value)
        if fields.get("state") in ENDED and session.completed_at is None:
            session.completed_at = utcnow()
        return session


async def add_attempt(
    sessions: Sessions,
    session_id: str,
    number: int,
    peer_node: str | None,
    gateway: str,
    outcome: str,
    error: str = "",
) -> None:
    """One try at carrying the session (through a peer, or from this node), in its own
    transaction so it stays whatever happens next."""
    async with sessions.begin() as db:
        db.add(
            SessionAttempt(
                session_id=session_id,
                number=number,
                peer_node=peer_node,
                gateway=gateway,
                started_at=utcnow(),
                outcome=outcome,
                error=error,
            )
        )


async def read(sessions: Sessions, session_id: str) -> Session:
    async with sessions() as db:
        session = await db.get(Session, session_id)
        assert session is not None, f"session {session_id} vanished"
        return session


async def end_interrupted(sessions: Sessions, node_name: str) -> None:
    """After a restart no relay or front of this node carries anything: what it carried
    ended. Sessions another main node sharing the database carries are its own; a pending one
    (no tunnel yet) may still be attached, on any node, until `end_unattached` ends it."""
    async with sessions.begin() as db:
        await db.execute(
            sql_update(Session)
            .where(
                Session.state.not_in(ENDED),
                (Session.served_by == node_name)
                | (Session.served_by.is_(None) & (Session.state != SessionState.PENDING)),
            )
            .values(
                state=SessionState.FAILED,
                error="the node restarted while the session was open",
                error_code="interrupted",
                completed_at=utcnow(),
                updated_at=utcnow(),
            )
        )


async def ended(sessions: Sessions, session_id: str, within_s: float) -> Session:
    """The session once it has ended, or as it is after `within_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        session = await read(sessions, session_id)
        if session.state in ENDED or loop.time() >= deadline:
            return session
        await asyncio.sleep(0.1)


async def end_unattached(db: AsyncSession, site_id: str, origin: str, older_than_s: float) -> None:
    """Sessions opened but never attached (on a main) or whose ticket was never used (on a
    peer) end as failed once they are older than `older_than_s`; the caller's transaction."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    await db.execute(
        sql_update(Session)
        .where(
            Session.site_id == site_id,
            Session.origin == origin,
            Session.state == SessionState.PENDING,
            Session.created_at < cutoff,
        )
        .values(
            state=SessionState.FAILED,
            error="nothing attached to the session in time",
            error_code="session_unattached",
            completed_at=utcnow(),
            updated_at=utcnow(),
        )
    )
