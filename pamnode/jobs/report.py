"""Reports > Jobs (the list and a job's details) and cancelling a job."""

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Forbidden, InvalidInput, NotFound
from pamnode.db.pages import Page, page_of
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.jobs import states
from pamnode.jobs.context import JobContext
from pamnode.jobs.models import Job
from pamnode.jobs.pool import until
from pamnode.jobs.queue import stop
from pamnode.peers.serving import signed_by

# How long a cancel waits for the job's end before it answers with the job as it is.
CANCEL_WAIT_S = 15
# The report counts the jobs that match up to this many past the page's start (then says
# "more"): an exact count of a million jobs reads a million index entries, slower than a page
# should be (docs/scale.md). A batch is counted exactly: it holds one job per host at most, and
# the CLI follows an execution by its counts.
COUNT_AHEAD = 10_000


@dataclass(frozen=True)
class JobFilter:
    asset_id: str | None = None
    state: str | None = None
    task: str | None = None
    node: str | None = None
    batch_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def count_by_state(db: AsyncSession) -> list[tuple[str, str | None, int]]:
    """Every job in this node's database by state and node signature (`GET /metrics`)."""
    rows = await db.execute(
        select(Job.state, Job.node_signature, func.count()).group_by(Job.state, Job.node_signature)
    )
    return [(state, signature, count) for state, signature, count in rows]


def _visible(principal: Principal) -> Select[Job]:
    query = select(Job).where(Job.site_id == principal.site.id)
    if not principal.can(Permission.JOBS_READ):
        query = query.where(Job.requested_by == principal.user.login)
    return query


async def list_jobs(
    db: AsyncSession, principal: Principal, where: JobFilter, limit: int, offset: int
) -> Page:
    query = _visible(principal)
    if where.asset_id:
        query = query.where(Job.asset_id == where.asset_id)
    if where.state:
        query = query.where(Job.state == where.state)
    if where.task:
        query = query.where(Job.task == where.task)
    if where.node:
        query = query.where(signed_by(Job.node_signature, where.node))
    if where.batch_id:
        query = query.where(Job.batch_id == where.batch_id)
    if where.since:
        query = query.where(Job.created_at >= where.since)
    if where.until:
        query = query.where(Job.created_at < where.until)
    ahead = None if where.batch_id else COUNT_AHEAD
    return await page_of(db, query, (Job.created_at.desc(), Job.id), limit, offset, ahead)


async def get_job(db: AsyncSession, principal: Principal, job_id: str) -> Job:
    job = await db.scalar(_visible(principal).where(Job.id == job_id))
    if job is None:
        raise NotFound(f"this site has no job {job_id[:80]}", code="job_not_found")
    return job


async def cancel_job(db: AsyncSession, ctx: JobContext, principal: Principal, job_id: str) -> Job:
    job = await get_job(db, principal, job_id)
    if job.requested_by != principal.user.login and not principal.can(Permission.ASSETS_MANAGE_ALL):
        raise Forbidden(
            "only whoever asked for a job, or a site administrator or asset manager, may cancel it",
            code="permission_denied",
        )
    if job.state in states.FINISHED:
        raise InvalidInput(f"job {job_id} has already ended ({job.state})", code="job_finished")
    record(db, principal.audit_scope, AuditAction.JOB_CANCEL, job.asset_name, job=job_id)
    # Ended before acting: the job's own state writes must not wait on this request.
    await db.commit()
    # Taken first: the end may come from another main node that runs the job.
    changed = ctx.pool.watch(job_id)
    await stop(ctx, job_id)
    deadline = time.monotonic() + CANCEL_WAIT_S
    job = await states.read(ctx.database, job_id)
    # A change is not always the end: the pool may take a queued job (running) while the
    # cancel is on its way, and its cancelled state is written after that.
    while job.state not in states.FINISHED and (left := deadline - time.monotonic()) > 0:
        await until(changed, left)
        changed = ctx.pool.watch(job_id)
        job = await states.read(ctx.database, job_id)
    return job
