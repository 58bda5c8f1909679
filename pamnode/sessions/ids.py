"""A session's id, the one thing a session's recording directory is named from.

guacd writes wherever its `connect` says (it authenticates nobody and checks no path), so the
path must never carry more than a canonical UUID: `..` or a `/` in an id sent by a main would
put a recording, or a typescript, anywhere the node's guacd may write.
"""

import uuid

from pamnode.core.errors import InvalidInput


def checked(session_id: str) -> str:
    """`session_id` if it is a UUID in its canonical form (lowercase, hyphens), else 422."""
    try:
        canonical = str(uuid.UUID(session_id))
    except ValueError:
        canonical = ""
    if canonical != session_id:
        raise InvalidInput(
            f"session id '{session_id[:40]}' is not a UUID (such as "
            "'0b7c0e5e-3c1a-4d4e-9a43-5f0d4c2b9e11')",
            code="invalid_session_id",
        )
    return session_id
