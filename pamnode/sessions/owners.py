"""A deleted user's sessions end with it. Identity cannot import sessions (the layers), so
whatever deletes a user calls this after the deletion, in the same request."""

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.db.base import utcnow
from pamnode.sessions.context import SessionContext
from pamnode.sessions.models import Session
from pamnode.sessions.states import ENDED, SessionState

ENDED_WITH_USER = "ended: its user was deleted"


async def end_sessions_of(db: AsyncSession, ctx: SessionContext, user_id: str, by: str) -> None:
    """End the user's pending sessions in the caller's transaction, commit it, then cut the
    ones this node carries (each relay or proxy sees its upstream close and records the end)."""
    mine = (Session.user_id == user_id, Session.origin == "local")
    await db.execute(
        sql_update(Session)
        .where(*mine, Session.state == SessionState.PENDING)
        .values(
            state=SessionState.COMPLETED,
            error=ENDED_WITH_USER,
            terminated_by=by,
            completed_at=utcnow(),
            updated_at=utcnow(),
        )
    )
    carried = list(await db.scalars(select(Session.id).where(*mine, Session.state.not_in(ENDED))))
    await db.execute(sql_update(Session).where(Session.id.in_(carried)).values(terminated_by=by))
    # Committed before acting: the relays' own end writes must not wait on this request.
    await db.commit()
    for session_id in carried:
        upstream = ctx.live.get(session_id)
        if upstream is not None:
            upstream.writer.close()
