"""A session's tries at reaching its target, as the dial (`pamnode.peers.routing`) reports
them: one SessionAttempt row each, for gateway sessions and proxy sessions alike."""

from pamnode.peers.routing import Candidate, Record
from pamnode.sessions.states import Database, add_attempt


def recorder(database: Database, session_id: str, here: str) -> Record:
    """Writes each attempt of the session; `here` names this node where it carries it."""

    async def record(number: int, peer: Candidate | None, failure: str | None) -> None:
        await add_attempt(
            database,
            session_id,
            number,
            peer.name if peer else None,
            peer.listening.address if peer else here,
            "connected" if failure is None else "failed",
            failure or "",
        )

    return record
