"""The peer side of delegated jobs: accept once per id, run here, report, cancel.

The credential that comes with a job lives only in the coroutine that runs it: it is never
written to this node's database, so a restart forgets it and the job ends as interrupted.
"""

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.credentials import Credential
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, NotFound
from pamnode.identity.principal import Principal
from pamnode.jobs import states
from pamnode.jobs.context import JobContext
from pamnode.jobs.local import run_here
from pamnode.jobs.models import Job
from pamnode.jobs.pool import Work, until
from pamnode.jobs.specs import JobSpec
from pamnode.jobs.states import JobState
from pamnode.jobs.wire import PeerJobIn
from pamnode.peers.serving import require_peer_caller


async def accept(db: AsyncSession, ctx: JobContext, principal: Principal, body: PeerJobIn) -> Job:
    """Take the job unless this id is known already; the same id twice never runs twice."""
    require_peer_caller(principal)
    known = await _existing(db, principal, body.id)
    if known is not None:
        return known
    spec = body.spec()
    job = Job(
        id=body.id,
        site_id=principal.site.id,
        origin="peer",
        state=JobState.QUEUED,
        requested_by=f"{principal.user.login} (main node)",
        **spec.columns(),
    )
    # Committed, with its audit event, before the work starts: a second POST of this id finds
    # it, and nothing the request does afterwards can fail once the job may run.
    db.add(job)
    record(db, principal.audit_scope, "job.accept", job.id, task=job.task, host=spec.target.host)
    try:
        await db.commit()
    except IntegrityError:
        # The same id posted twice at once: the other request's job is the one.
        await db.rollback()
        known = await _existing(db, principal, body.id)
        assert known is not None
        return known
    sig = ctx.signature(principal.tenant.name, principal.site.name)
    ctx.pool.submit(job.id, _delegated(ctx, job.id, spec, body.credential_given(), sig))
    return job


def _delegated(
    ctx: JobContext, job_id: str, spec: JobSpec, credential: Credential, sig: str
) -> Work:
    async def work() -> None:
        await run_here(ctx, job_id, spec, credential, sig)

    return work


async def _existing(db: AsyncSession, principal: Principal, job_id: str) -> Job | None:
    job = await db.get(Job, job_id)
    if job is not None and (job.site_id != principal.site.id or job.origin != "peer"):
        raise Conflict(f"job id {job_id} is already used on this node", code="job_id_taken")
    return job


async def status(
    db: AsyncSession,
    ctx: JobContext,
    principal: Principal,
    job_id: str,
    wait_s: float,
    seen: str | None,
) -> Job:
    """The job now if its state differs from `seen`, else at its next change (long-poll)."""
    require_peer_caller(principal)
    if await _existing(db, principal, job_id) is None:
        raise NotFound(f"this peer has no job {job_id}", code="job_not_found")
    # Hand the connection back before a long-poll, or waiting callers would drain the pool.
    await db.commit()
    change = ctx.pool.watch(job_id)
    job = await states.read(ctx.sessions, job_id)
    if job.state != seen:
        return job
    await until(change, wait_s)
    return await states.read(ctx.sessions, job_id)


async def cancel(db: AsyncSession, ctx: JobContext, principal: Principal, job_id: str) -> Job:
    require_peer_caller(principal)
    job = await _existing(db, principal, job_id)
    if job is None:
        raise NotFound(f"this peer has no job {job_id}", code="job_not_found")
    record(db, principal.audit_scope, "job.cancel", job_id)
    # Ended before acting: the job's own state writes must not wait on this request.
    await db.commit()
    if not ctx.pool.cancel(job_id) and job.state not in states.FINISHED:
        await states.update(ctx.sessions, job_id, state=JobState.CANCELLED)
    await ctx.pool.wait(job_id, 10)
    return await states.read(ctx.sessions, job_id)
