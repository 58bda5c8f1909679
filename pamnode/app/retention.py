"""Each site's retention, enforced by every main while it serves: session recordings and job
output older than the site keeps them are removed, a batch at a time, each batch with its
`retention.remove` audit row (what, how many, which).

Safe with several mains on one database: a batch is taken by one conditional UPDATE (`…
WHERE removed_at IS NULL`), so two mains never both take a row; and a main removes only the
recordings on its own disk (the sessions it carried, or that its gateway carried for a main).
A row is marked before its files go: a crash between the two leaves files the Sessions
report no longer offers, never a session that claims recordings it lost.
"""

import asyncio
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Text, cast, delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import AuditScope, record
from pamnode.db.base import utcnow
from pamnode.identity.models import Site, Tenant
from pamnode.jobs.models import Job
from pamnode.sessions.models import Session, SessionText
from pamnode.sessions.states import ENDED

log = logging.getLogger("pamnode.retention")

# Rows removed per transaction (and named in one audit row).
BATCH = 100
# Who the audit rows name as the actor.
ACTOR = "retention"


@dataclass(frozen=True)
class _SiteRetention:
    site_id: str
    tenant: str
    site: str
    recording_days: int | None
    job_output_days: int | None


async def _sites(database: async_sessionmaker[AsyncSession]) -> list[_SiteRetention]:
    async with database() as db:
        rows = await db.execute(
            select(
                Site.id,
                Tenant.name,
                Site.name,
                Site.recording_retention_days,
                Site.job_output_retention_days,
            )
            .join(Tenant, Tenant.id == Site.tenant_id)
            .where(
                Site.recording_retention_days.is_not(None)
                | Site.job_output_retention_days.is_not(None)
            )
        )
        return [_SiteRetention(*row) for row in rows.all()]


async def _remove_recordings(
    db: AsyncSession, site: _SiteRetention, node_name: str, before: datetime, now: datetime
) -> list[str]:
    """Mark one batch of the site's sessions ended before `before` whose recordings are on
    this node's disk; their ids."""
    here = (Session.served_by == node_name) | Session.served_by.is_(None)
    batch = (
        select(Session.id)
        .where(
            Session.site_id == site.site_id,
            Session.state.in_(sorted(ENDED)),
            Session.completed_at < before,
            Session.recordings_removed_at.is_(None),
            # An empty list is stored as the text `[]` by both databases.
            cast(Session.recordings, Text) != "[]",
            here,
        )
        .order_by(Session.completed_at)
        .limit(BATCH)
    )
    ids = list((await db.scalars(batch)).all())
    if not ids:
        return []
    taken = await db.scalars(
        update(Session)
        .where(Session.id.in_(ids), Session.recordings_removed_at.is_(None))
        .values(recordings=[], recordings_removed_at=now, updated_at=now)
        .returning(Session.id)
    )
    removed = sorted(taken.all())
    # Their text in the search index goes with them.
    await db.execute(delete(SessionText).where(SessionText.session_id.in_(removed)))
    return removed


async def _remove_job_output(
    db: AsyncSession, site: _SiteRetention, before: datetime, now: datetime
) -> list[str]:
    batch = (
        select(Job.id)
        .where(
            Job.site_id == site.site_id,
            Job.finished_at < before,
            Job.output_removed_at.is_(None),
        )
        .order_by(Job.finished_at)
        .limit(BATCH)
    )
    ids = list((await db.scalars(batch)).all())
    if not ids:
        return []
    taken = await db.scalars(
        update(Job)
        .where(Job.id.in_(ids), Job.output_removed_at.is_(None))
        .values(output="", output_removed_at=now)
        .returning(Job.id)
    )
    return sorted(taken.all())


async def sweep(
    database: async_sessionmaker[AsyncSession], recordings_dir: Path, node_name: str
) -> int:
    """One pass over every site with a retention; how many rows it removed evidence from."""
    removed = 0
    for site in await _sites(database):
        scope = AuditScope(site.tenant, site.site, ACTOR, node_name)
        for what, days in (
            ("recordings", site.recording_days),
            ("job output", site.job_output_days),
        ):
            if days is None:
                continue
            while True:
                now = utcnow()
                before = now - timedelta(days=days)
                async with database.begin() as db:
                    if what == "recordings":
                        ids = await _remove_recordings(db, site, node_name, before, now)
                    else:
                        ids = await _remove_job_output(db, site, before, now)
                    if ids:
                        record(
                            db,
                            scope,
                            AuditAction.RETENTION_REMOVE,
                            what,
                            count=len(ids),
                            older_than=before.isoformat(),
                            days=days,
                            ids=ids,
                        )
                if what == "recordings":
                    await asyncio.to_thread(_delete_files, recordings_dir, ids)
                removed += len(ids)
                if len(ids) < BATCH:
                    break
    return removed


def _delete_files(recordings_dir: Path, session_ids: list[str]) -> None:
    for session_id in session_ids:
        shutil.rmtree(recordings_dir / session_id, ignore_errors=True)


async def keep_retention(
    database: async_sessionmaker[AsyncSession],
    recordings_dir: Path,
    node_name: str,
    every_s: float,
) -> None:
    """Sweep now and every `every_s` while the node serves."""
    while True:
        try:
            removed = await sweep(database, recordings_dir, node_name)
        except (OSError, SQLAlchemyError) as exc:
            log.warning("retention: the sweep stopped, will try again: %s", exc)
        else:
            if removed:
                log.info("retention: removed the evidence of %d session(s) or job(s)", removed)
        await asyncio.sleep(every_s)
