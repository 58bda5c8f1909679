"""Session states and every write that moves a session on.

Each write is one conditional statement that names the states it moves from (`UPDATE …
WHERE state IN (…)`), so two writers racing on one session cannot both win, on SQLite as on
PostgreSQL: a terminate and a tunnel's claim, a terminate and a carrier's start, two ends (an
ended session keeps its first end: a failure is never replaced by `completed`). Each runs in
the caller's transaction (`lifecycle` adds the audit events of a start and an end to theirs),
but the end of what a restart interrupted, written alone at startup.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

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
UNENDED = frozenset(set(SessionState) - ENDED)
# Not carried yet: what a carrier's start moves from, and what a terminate ends by itself.
UNSTARTED = frozenset({SessionState.PENDING, SessionState.CONNECTING})

Database = async_sessionmaker[AsyncSession]


async def claim(db: AsyncSession, session_id: str, node_name: str) -> bool:
    """Move a pending session to connecting, carried by this node; False if another tunnel
    (on this node or another main sharing the database) got there first, or it was
    terminated or ended meanwhile."""
    done = await db.execute(
        sql_update(Session)
        .where(Session.id == session_id, Session.state == SessionState.PENDING)
        .values(state=SessionState.CONNECTING, served_by=node_name, updated_at=utcnow())
    )
    return bool(getattr(done, "rowcount", 0))


@dataclass(frozen=True)
class End:
    """How a session ended, as its row keeps it."""

    state: SessionState
    error: str = ""
    code: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    # The recording files this node holds for it, and their SHA-256 by kind.
    recordings: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    # The peer that still holds the rest, to be asked again (sessions/recording_retries.py).
    recordings_on: str | None = None


async def start(
    db: AsyncSession, session_id: str, gateway: str, peer_node: str | None, node_signature: str
) -> Session | None:
    """Mark the session active, carried by `gateway`; None if it is no longer waiting for a
    carrier (terminated, or ended, meanwhile): the carrier then lets it go."""
    now = utcnow()
    started: Session | None = await db.scalar(
        sql_update(Session)
        .where(Session.id == session_id, Session.state.in_(sorted(UNSTARTED)))
        .values(
            state=SessionState.ACTIVE,
            started_at=now,
            gateway=gateway,
            peer_node=peer_node,
            node_signature=node_signature,
            updated_at=now,
        )
        .returning(Session)
    )
    return started


async def end(
    db: AsyncSession, session_id: str, how: End, before: frozenset[SessionState] = UNENDED
) -> Session | None:
    """End the session if it is in one of the states `before`; None if it was not (it had
    ended already, and keeps that end)."""
    now = utcnow()
    ended_now: Session | None = await db.scalar(
        sql_update(Session)
        .where(Session.id == session_id, Session.state.in_(sorted(before)))
        .values(
            state=how.state,
            error=how.error,
            error_code=how.code,
            bytes_in=how.bytes_in,
            bytes_out=how.bytes_out,
            recordings=how.recordings,
            recording_hashes=how.hashes,
            recording_peer_id=how.recordings_on,
            recording_next_at=None if how.recordings_on is None else now,
            completed_at=now,
            updated_at=now,
        )
        .returning(Session)
    )
    return ended_now


async def terminating(db: AsyncSession, session_id: str, login: str) -> bool:
    """Note who terminates the session; False if it has ended already."""
    done = await db.execute(
        sql_update(Session)
        .where(Session.id == session_id, Session.state.in_(sorted(UNENDED)))
        .values(terminated_by=login, updated_at=utcnow())
    )
    return bool(getattr(done, "rowcount", 0))


async def add_attempt(
    database: Database,
    session_id: str,
    number: int,
    peer_node: str | None,
    gateway: str,
    outcome: str,
    error: str = "",
) -> None:
    """One try at carrying the session (through a peer, or from this node), in its own
    transaction so it stays whatever happens next."""
    async with database.begin() as db:
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


async def read(database: Database, session_id: str) -> Session:
    async with database() as db:
        session = await db.get(Session, session_id)
        assert session is not None, f"session {session_id} vanished"
        return session


async def end_interrupted(database: Database, node_name: str) -> None:
    """After a restart no relay or front of this node carries anything: what it carried
    ended. Sessions another main node sharing the database carries are its own; a pending one
    (no tunnel yet) may still be attached, on any node, until `end_unattached` ends it."""
    async with database.begin() as db:
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


async def ended(database: Database, session_id: str, within_s: float) -> Session:
    """The session once it has ended, or as it is after `within_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        session = await read(database, session_id)
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
