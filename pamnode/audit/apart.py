"""Audit rows that need a transaction of their own (a refusal: the request's was rolled
back), written together: rows that come while a transaction is under way go in the next.

A crowd refused at once (80 logins, each with a name of its own and so a row of its own)
then costs a transaction at a time, one connection, instead of a connection each, which
left the requests of everyone else without one (503 `node_busy`).
"""

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import AuditScope, Detail, record
from pamnode.core.request_id import background_task


@dataclass(frozen=True)
class _Row:
    scope: AuditScope
    action: AuditAction
    target: str
    outcome: str
    details: dict[str, Detail]


class AuditApart:
    def __init__(self, database: async_sessionmaker[AsyncSession]) -> None:
        self._database = database
        self._waiting: list[tuple[_Row, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(
        self, scope: AuditScope, action: AuditAction, target: str, outcome: str, **details: Detail
    ) -> None:
        """Written (committed) when this returns; the transaction's error when it failed."""
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((_Row(scope, action, target, outcome, details), done))
        if self._writer is None or self._writer.done():
            # Serves every waiting row: not the request that happened to start it.
            self._writer = background_task(self._write_waiting(), "audit rows apart")
        # Shielded: a caller that goes away still has its row written.
        await asyncio.shield(done)

    async def _write_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                async with self._database.begin() as db:
                    for row, _ in group:
                        record(db, row.scope, row.action, row.target, row.outcome, **row.details)
            except Exception as exc:
                for _, done in group:
                    if not done.cancelled():
                        done.set_exception(exc)
                continue
            for _, done in group:
                if not done.cancelled():
                    done.set_result(None)
