"""PostgreSQL's LISTEN/NOTIFY: how a commit on one node wakes waiters on the others.

Several main nodes share one PostgreSQL database (docs/scale.md); each holds only its own
waiters (long-polls, a cancel waiting for its job's end) and its own running jobs. A writer
sends a notice in its transaction (`send`), which PostgreSQL delivers to every listening
connection when, and only if, that transaction commits. Each node keeps one connection of its
own listening (`Listener`), apart from its pools.

Notices are a shortcut, not the record: one sent while a listener reconnects is lost, so every
listener also catches up from the database on reconnect and on a timer. On SQLite a node
serves alone (`sole_server`): `send` does nothing and nothing listens.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("pamnode.db.notices")

# What a listener runs for each notice on a channel: its payload, on the event loop.
OnNotice = Callable[[str], None]
# A listener whose connection broke tries again after this pause.
RECONNECT_S = 1.0
# How often a listener checks that its connection is still there (a dropped TCP connection
# tells nothing until the next use).
CHECK_S = 5.0

_SEND = text("SELECT pg_notify(:channel, :payload)")


async def send(db: AsyncSession, channel: str, payload: str) -> None:
    """Notify `channel` when the caller's transaction commits (PostgreSQL only)."""
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(_SEND, {"channel": channel, "payload": payload})


class Listener:
    """One connection that listens to `channels` and runs their handlers, reconnecting while
    the node lives. `on_connect` runs after each (re)connection: whatever was sent while no
    connection listened is lost, so the caller reads it from the database then."""

    def __init__(
        self, url: str, channels: Mapping[str, OnNotice], on_connect: Callable[[], None]
    ) -> None:
        # asyncpg's own form of the URL: SQLAlchemy's names the driver in its scheme.
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._channels = channels
        self._on_connect = on_connect

    async def run(self) -> None:
        """Listen until cancelled."""
        while True:
            try:
                await self._listen_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("listening for other nodes' changes failed (%s); retrying", exc)
            await asyncio.sleep(RECONNECT_S)

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            for channel, handler in self._channels.items():
                await conn.add_listener(channel, _adapt(handler))
            self._on_connect()
            while not conn.is_closed():
                await asyncio.sleep(CHECK_S)
                await conn.execute("SELECT 1")
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)


def _adapt(handler: OnNotice) -> Callable[[object, int, str, str], None]:
    def on_notice(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        handler(payload)

    return on_notice
