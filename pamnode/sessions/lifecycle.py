"""The two moments every session records, whatever carries it (a main's tunnel to its own
guacd or a peer's gateway, a peer's gateway front, the SSH proxy, the RDP pass-through): it
started (and where), and it ended (and how), each with its audit event in the same
transaction. Both are conditional (`states`): a start of a session terminated meanwhile, or
an end of one that ended already, writes nothing and says so."""

from dataclasses import replace
from pathlib import Path
from typing import Any

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import AuditScope, record
from pamnode.sessions import recordings, states
from pamnode.sessions.states import Database, End

# What a carrier tells its client when its start finds the session ended.
NOT_STARTED = "the session was terminated before it started"


async def started(
    database: Database,
    scope: AuditScope,
    session_id: str,
    gateway: str,
    peer_node: str | None,
    node_signature: str,
) -> bool:
    """Whether the session started; False if it was terminated or ended before its carrier
    got here, and the carrier must let it go (telling its client NOT_STARTED)."""
    async with database.begin() as db:
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


async def ended(
    database: Database,
    scope: AuditScope,
    session_id: str,
    how: End,
    recorded_in: Path | None = None,
) -> None:
    """End the session, unless it had ended already (it keeps that end). The recordings it
    names in `recorded_in` are hashed first: the SHA-256 of each is kept with the row and in
    the audit event (so the hash chain covers them too)."""
    if recorded_in is not None and how.recordings:
        how = replace(how, hashes=await recordings.digests(recorded_in, how.recordings))
    async with database.begin() as db:
        session = await states.end(db, session_id, how)
        if session is not None:
            details: dict[str, Any] = {"session": session_id, "state": how.state}
            if how.hashes:
                details["recordings"] = how.hashes
            record(db, scope, AuditAction.SESSION_END, session.asset_name, **details)
