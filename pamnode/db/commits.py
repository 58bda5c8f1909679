"""What must happen only once a transaction's change is committed (a link closed, a link
started): done before, another node or a racing request could act on the old state."""

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession


def after_commit(db: AsyncSession, action: Callable[[], None]) -> None:
    """Run `action` when `db`'s transaction commits (never, if it rolls back)."""

    def committed(_session: object) -> None:
        action()

    event.listen(db.sync_session, "after_commit", committed, once=True)
