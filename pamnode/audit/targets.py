"""A target checked against the node's destination policy (`pamnode.core.destinations`),
with every refusal in the audit trail, whichever path asked."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import AuditScope, Detail, record
from pamnode.core.destinations import Destination, DestinationPolicy, TargetRefused


async def allowed_destination(
    policy: DestinationPolicy,
    audit: AsyncSession | async_sessionmaker[AsyncSession],
    scope: AuditScope,
    host: str,
    port: int,
    **details: Detail,
) -> Destination:
    """The destination to connect to; a refusal is recorded as `target.refuse` and raised.

    `audit` is the request's transaction (the event is committed in it before the refusal
    rolls the rest back: a second connection could wait on the first's SQLite write lock), or
    the database (its session factory) to write it in a transaction of its own."""
    try:
        return await policy.resolve(host, port)
    except TargetRefused as exc:
        if isinstance(audit, AsyncSession):
            record(
                audit,
                scope,
                AuditAction.TARGET_REFUSE,
                exc.target,
                "denied",
                reason=exc.message,
                **details,
            )
            await audit.commit()
        else:
            async with audit.begin() as db:
                record(
                    db,
                    scope,
                    AuditAction.TARGET_REFUSE,
                    exc.target,
                    "denied",
                    reason=exc.message,
                    **details,
                )
        raise
