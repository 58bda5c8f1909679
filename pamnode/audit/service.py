"""Writing and reading audit events. Secrets never go into `details`."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.models import AuditEvent


@dataclass(frozen=True)
class AuditScope:
    tenant: str
    site: str
    actor: str
    source: str


def record(
    db: AsyncSession,
    scope: AuditScope,
    action: str,
    target: str = "",
    outcome: str = "success",
    **details: Any,
) -> None:
    """Add the event to the caller's transaction, so it lands if and only if the change does."""
    db.add(
        AuditEvent(
            tenant=scope.tenant,
            site=scope.site,
            actor=scope.actor,
            action=action,
            target=target[:255],
            outcome=outcome,
            source=scope.source,
            details=details,
        )
    )


async def list_events(
    db: AsyncSession,
    tenant: str,
    site: str,
    *,
    action: str | None = None,
    actor: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.tenant == tenant, AuditEvent.site == site)
    if action:
        query = query.where(AuditEvent.action == action)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if outcome:
        query = query.where(AuditEvent.outcome == outcome)
    if since:
        query = query.where(AuditEvent.at >= since)
    query = query.order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    return list((await db.scalars(query)).all())
