"""Writing and reading audit events. Secrets never go into `details`."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit import chain
from pamnode.audit.actions import AuditAction
from pamnode.audit.models import AuditEvent
from pamnode.db.base import utcnow
from pamnode.db.pages import Page, page_of

# What an event's details may hold: they are stored as JSON and shown as they are.
Detail = (
    str | int | float | bool | None | Sequence[str | int] | Mapping[str, str | int | bool | None]
)


@dataclass(frozen=True)
class AuditScope:
    tenant: str
    site: str
    actor: str
    source: str


def record(
    db: AsyncSession,
    scope: AuditScope,
    action: AuditAction,
    target: str = "",
    outcome: str = "success",
    **details: Detail,
) -> None:
    """Add the event to the caller's transaction, so it lands if and only if the change does
    (linked into the hash chain as it commits)."""
    row = AuditEvent(
        at=utcnow(),
        tenant=scope.tenant,
        site=scope.site,
        actor=scope.actor,
        action=action,
        target=target[:255],
        outcome=outcome,
        source=scope.source,
        details=details,
    )
    db.add(row)
    chain.pending(db, row)


async def linked_after(db: AsyncSession, seq: int, limit: int) -> Sequence[AuditEvent]:
    """The next `limit` rows of the hash chain after place `seq`, in chain (commit) order:
    what `audit verify` walks and the SIEM stream sends."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.chain_seq > seq)
        .order_by(AuditEvent.chain_seq)
        .limit(limit)
    )
    return (await db.scalars(query)).all()


@dataclass(frozen=True)
class EventFilter:
    """Which events of a site a reader asks for."""

    action: str | None = None
    actor: str | None = None
    outcome: str | None = None
    since: datetime | None = None

    def query(self, tenant: str, site: str) -> Select[AuditEvent]:
        query = select(AuditEvent).where(AuditEvent.tenant == tenant, AuditEvent.site == site)
        if self.action:
            query = query.where(AuditEvent.action == self.action)
        if self.actor:
            query = query.where(AuditEvent.actor == self.actor)
        if self.outcome:
            query = query.where(AuditEvent.outcome == self.outcome)
        if self.since:
            query = query.where(AuditEvent.at >= self.since)
        return query


NEWEST_FIRST = (AuditEvent.id.desc(),)


async def list_events(
    db: AsyncSession,
    tenant: str,
    site: str,
    where: EventFilter,
    limit: int = 100,
    offset: int = 0,
) -> list[AuditEvent]:
    query = where.query(tenant, site).order_by(*NEWEST_FIRST).limit(limit).offset(offset)
    return list((await db.scalars(query)).all())


async def page_events(
    db: AsyncSession, tenant: str, site: str, where: EventFilter, limit: int, offset: int
) -> Page:
    """One page of events, newest first, and how many match in all."""
    return await page_of(db, where.query(tenant, site), NEWEST_FIRST, limit, offset)


async def latest_by_target(
    db: AsyncSession, tenant: str, site: str, action: str, targets: list[str]
) -> dict[str, AuditEvent]:
    """The newest event of one action for each of `targets` (e.g. each peer's Test Connection)."""
    if not targets:
        return {}
    newest = (
        select(func.max(AuditEvent.id))
        .where(
            AuditEvent.tenant == tenant,
            AuditEvent.site == site,
            AuditEvent.action == action,
            AuditEvent.target.in_(targets),
        )
        .group_by(AuditEvent.target)
    )
    events = await db.scalars(select(AuditEvent).where(AuditEvent.id.in_(newest)))
    return {event.target: event for event in events.all()}
