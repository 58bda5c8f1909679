"""The two moments every session records, whatever carries it (a main's tunnel to its own
guacd or a peer's gateway, a peer's gateway front, the SSH proxy, the RDP pass-through): it
started (and where), and it ended (and how), each with its audit event in the same
transaction. Both are conditional (`states`): a start of a session terminated meanwhile, or
an end of one that ended already, writes nothing and says so."""

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import AuditScope, record
from pamnode.sessions import states
from pamnode.sessions.states import End, Sessions

# What a carrier tells its client when its start finds the session ended.
NOT_STARTED = "the session was terminated before it started"


async def started(
    sessions: Sessions,
    scope: AuditScope,
    session_id: str,
    gateway: str,
    peer_node: str | None,
    node_signature: str,
) -> bool:
    """Whether the session started; False if it was terminated or ended before its carrier
    got here, and the carrier must let it go (telling its client NOT_STARTED)."""
    async with sessions.begin() as db:
        session = await states.start(db, session_id, gateway, peer_node, node_signature)
        if session is None:
            return False
        record(
            db,
            scope,
            AuditAction.SESSION_START,
            session.asset_name,
            session=session_id,
            gateway=gateway,
            node=node_signature,
        )
        return True


async def ended(sessions: Sessions, scope: AuditScope, session_id: str, how: End) -> None:
    """End the session, unless it had ended already (it keeps that end)."""
    async with sessions.begin() as db:
        session = await states.end(db, session_id, how)
        if session is not None:
            record(
                db,
                scope,
                AuditAction.SESSION_END,
                session.asset_name,
                session=session_id,
                state=how.state,
            )
