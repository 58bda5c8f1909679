"""The two moments every session of a main records, whatever carries it (a gateway, the SSH
proxy, the RDP pass-through): it started (and where), and it ended (and how), each with its
audit event."""

from pamnode.audit.service import AuditScope, record
from pamnode.db.base import utcnow
from pamnode.sessions import states
from pamnode.sessions.models import Session
from pamnode.sessions.states import Sessions, SessionState


async def started(
    sessions: Sessions,
    scope: AuditScope,
    session_id: str,
    gateway: str,
    peer_node: str | None,
    node_signature: str,
) -> None:
    async with sessions.begin() as db:
        session = await db.get(Session, session_id)
        assert session is not None
        session.state, session.started_at = SessionState.ACTIVE, utcnow()
        session.gateway = gateway
        session.peer_node = peer_node
        session.node_signature = node_signature
        record(
            db,
            scope,
            "session.start",
            session.asset_name,
            session=session_id,
            gateway=gateway,
            node=node_signature,
        )


async def ended(
    sessions: Sessions,
    scope: AuditScope,
    session_id: str,
    state: SessionState,
    error: str = "",
    code: str = "",
    **fields: object,
) -> None:
    session = await states.update(
        sessions, session_id, state=state, error=error, error_code=code, **fields
    )
    async with sessions.begin() as db:
        record(db, scope, "session.end", session.asset_name, session=session_id, state=state)
