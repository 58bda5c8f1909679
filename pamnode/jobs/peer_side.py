"""The peer side of delegated jobs: accept once per id, queue, report changes, cancel.

The credential that comes with a job lives only in memory (`JobContext.handed`, then the
coroutine that runs it): it is never written to this node's database, so a restart forgets
it and the job ends as interrupted (`pamnode.jobs.recovery`), which the main reads in the feed.

Each job's target is checked against this node's own destination policy as it arrives: a job
it refuses is written failed (`target_refused`, in the feed like any end) and never queued.
"""

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.destinations import TargetRefused
from pamnode.core.errors import Conflict, InvalidInput, NotFound
from pamnode.db.base import utcnow
from pamnode.identity.principal import Principal
from pamnode.jobs import states
from pamnode.jobs.context import Handed, JobContext
from pamnode.jobs.models import Job, JobFeed
from pamnode.jobs.pool import until
from pamnode.jobs.queue import stop
from pamnode.jobs.states import JobState
from pamnode.jobs.wire import NOW, PeerJobFeed, PeerJobIn, PeerJobStatus
from pamnode.peers.serving import require_peer_caller

log = logging.getLogger("pamnode.jobs")


def _requester(principal: Principal) -> str:
    """Who asked for a job sent here: the main's service user; its feed shows only these."""
    return f"{principal.user.login} (main node)"


async def accept(
    db: AsyncSession, ctx: JobContext, principal: Principal, jobs: list[PeerJobIn]
) -> list[Job]:
    """Queue the jobs whose ids are new here; an id known already is answered, never run
    again. The jobs, in the order asked for."""
    require_peer_caller(principal)
    ids = [body.id for body in jobs]
    scope = principal.audit_scope
    for _ in range(2):
        known = await _known(db, principal, ids)
        new = [body for body in jobs if body.id not in known]
        refusals = await _refusals(ctx, new)
        sig = ctx.signature(principal.tenant.name, principal.site.name)
        rows = [_row(principal, body) for body in new]
        if refusals:
            # Ends written with their feed numbers, like every change of a job.
            first = await states.take_numbers(db, len(refusals))
            refused = [row for row in rows if row.id in refusals]
            for number, row in enumerate(refused, start=first):
                _refuse(row, refusals[row.id], sig, number)
        # Held before the rows commit: the pool may take them the moment they do.
        for body in new:
            if body.id not in refusals:
                ctx.handed[body.id] = Handed(body.spec(), body.credential_given(), sig, scope)
        db.add_all(rows)
        for row, body in zip(rows, new, strict=True):
            if row.id in refusals:
                refusal = refusals[row.id]
                record(
                    db,
                    scope,
                    AuditAction.TARGET_REFUSE,
                    refusal.target,
                    "denied",
                    reason=refusal.message,
                    via="delegated job",
                    job=row.id,
                )
            record(
                db,
                scope,
                AuditAction.JOB_ACCEPT,
                row.id,
                "denied" if row.id in refusals else "success",
                task=row.task,
                host=body.target.host,
            )
        try:
            await db.commit()
        except IntegrityError:
            # The same id posted twice at once: the other request's job is the one.
            await db.rollback()
            for body in new:
                ctx.handed.pop(body.id, None)
            continue
        for body in new:
            log.info(
                "job %s accepted from %s: %s on %s",
                body.id,
                _requester(principal),
                body.task,
                body.target.host,
                extra={"job_id": body.id},
            )
        ctx.pool.kick()
        made = {row.id: row for row in rows}
        return [known.get(job_id) or made[job_id] for job_id in ids]
    raise Conflict("the same job ids are being sent concurrently; send again", code="job_id_taken")


async def _refusals(ctx: JobContext, jobs: list[PeerJobIn]) -> dict[str, TargetRefused]:
    """The jobs whose targets this node's destination policy refuses, by id. A name that does
    not resolve now is left to the run, which resolves again and fails it as unreachable."""
    checked = await asyncio.gather(
        *(ctx.destinations.resolve(body.target.host, body.target.port) for body in jobs),
        return_exceptions=True,
    )
    return {
        body.id: outcome
        for body, outcome in zip(jobs, checked, strict=True)
        if isinstance(outcome, TargetRefused)
    }


def _refuse(row: Job, refusal: TargetRefused, sig: str, number: int) -> None:
    row.state = JobState.FAILED
    row.error_code = refusal.code
    row.error = refusal.message
    row.finished_at = utcnow()
    row.node_signature = sig
    row.change_seq = number


def _row(principal: Principal, body: PeerJobIn) -> Job:
    return Job(
        id=body.id,
        site_id=principal.site.id,
        origin="peer",
        state=JobState.QUEUED,
        requested_by=_requester(principal),
        **body.spec().columns(),
    )


async def _known(db: AsyncSession, principal: Principal, ids: list[str]) -> dict[str, Job]:
    found = (await db.scalars(select(Job).where(Job.id.in_(ids)))).all()
    for job in found:
        if job.site_id != principal.site.id or job.origin != "peer":
            raise Conflict(f"job id {job.id} is already used on this node", code="job_id_taken")
    return {job.id: job for job in found}


async def _one(db: AsyncSession, principal: Principal, job_id: str) -> Job:
    job = (await _known(db, principal, [job_id])).get(job_id)
    if job is None:
        raise NotFound(f"this peer has no job {job_id}", code="job_not_found")
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
    await _one(db, principal, job_id)
    # Hand the connection back before a long-poll, or waiting callers would drain the pool.
    await db.commit()
    change = ctx.pool.watch(job_id)
    job = await states.read(ctx.database, job_id)
    if job.state != seen:
        return job
    await until(change, wait_s)
    return await states.read(ctx.database, job_id)


async def feed(
    db: AsyncSession,
    ctx: JobContext,
    principal: Principal,
    after: str,
    wait_s: float,
    limit: int,
) -> PeerJobFeed:
    """The caller's jobs changed after the cursor, oldest change first; with none, wait up to
    `wait_s` for the next change on this node."""
    require_peer_caller(principal)
    counter = await db.get(JobFeed, 1)
    assert counter is not None, "the job feed's counter row is missing (migration 0007)"
    if after == NOW:
        return PeerJobFeed(cursor=f"{counter.feed_id}:{counter.seq}", jobs=[], more=False)
    start = _position(after, counter.feed_id)
    # Hand the connection back before a long-poll, or waiting callers would drain the pool.
    await db.commit()
    change = ctx.pool.watch_all()
    page = await _page(ctx, principal, start, limit)
    if not page and wait_s > 0:
        await until(change, wait_s)
        page = await _page(ctx, principal, start, limit)
    jobs = page[:limit]
    cursor = jobs[-1].change_seq if jobs else start
    return PeerJobFeed(
        cursor=f"{counter.feed_id}:{cursor}",
        jobs=[PeerJobStatus.model_validate(job) for job in jobs],
        more=len(page) > limit,
    )


def _position(cursor: str, feed_id: str) -> int:
    """Where a cursor points in this node's feed: past its number, or (a cursor of another
    feed: this peer was rebuilt at the same address) at the start."""
    given_feed, _, number = cursor.rpartition(":")
    if not given_feed or not number.isdigit():
        raise InvalidInput(
            f"the feed cursor {cursor[:80]!r} is not one this node gave (feed_id:number)",
            code="feed_cursor_invalid",
        )
    return int(number) if given_feed == feed_id else 0


async def _page(ctx: JobContext, principal: Principal, start: int, limit: int) -> list[Job]:
    async with ctx.database() as db:
        query = (
            select(Job)
            .options(lazyload(Job.attempts))
            .where(
                Job.change_seq > start,
                Job.site_id == principal.site.id,
                Job.origin == "peer",
                Job.requested_by == _requester(principal),
            )
            .order_by(Job.change_seq)
            .limit(limit + 1)
        )
        return list((await db.scalars(query)).all())


async def cancel(
    db: AsyncSession, ctx: JobContext, principal: Principal, job_ids: list[str]
) -> list[Job]:
    """Cancel the caller's jobs (running or queued); the jobs as they are then."""
    require_peer_caller(principal)
    known = await _known(db, principal, job_ids)
    missing = [job_id for job_id in job_ids if job_id not in known]
    if missing:
        raise NotFound(f"this peer has no job {missing[0]}", code="job_not_found")
    for job_id in job_ids:
        record(db, principal.audit_scope, AuditAction.JOB_CANCEL, job_id)
    # Ended before acting: the jobs' own state writes must not wait on this request.
    await db.commit()
    for job_id in job_ids:
        if known[job_id].state not in states.FINISHED:
            await stop(ctx, job_id)
    if len(job_ids) == 1:
        # A single cancel answers with the job's end, as the per-job route always has.
        await ctx.pool.wait(job_ids[0], 10)
    async with ctx.database() as fresh:
        ended = (await fresh.scalars(select(Job).where(Job.id.in_(job_ids)))).all()
    by_id = {job.id: job for job in ended}
    return [by_id[job_id] for job_id in job_ids]
