"""The job queue: the queued jobs the pool takes next, the work that runs each, and a cancel
that reaches a job wherever it is on this node (its coroutine, or its row in the queue).

Queued jobs wait as rows (`ix_jobs_state_created_at` hands out the oldest first); a job a main
sent here also waits in `JobContext.handed`, which holds its credential in memory only.
"""

from dataclasses import replace

from sqlalchemy import select

from pamnode.jobs import leases, signals, states
from pamnode.jobs.context import JobContext
from pamnode.jobs.dispatch import Plan, plan_requested
from pamnode.jobs.local import begin_here, run_here
from pamnode.jobs.models import Job
from pamnode.jobs.pool import BrokenJob, Work
from pamnode.jobs.states import JobState

INTERRUPTED = "interrupted by restart"


def start_queue(ctx: JobContext) -> None:
    """Let the pool take queued jobs (after `pamnode.jobs.recovery.reconcile`)."""

    async def take(free: int, running: frozenset[str]) -> list[tuple[str, Work]]:
        return await take_queued(ctx, free, running)

    ctx.pool.fill_from(take)


@states.to_the_end
async def take_queued(
    ctx: JobContext, free: int, running: frozenset[str]
) -> list[tuple[str, Work]]:
    """Up to `free` of the oldest queued jobs (`_take_once`), read again as long as another
    main node took some of those it read: both read the same oldest jobs when they take at
    once, and the one that lost them would otherwise wait for its next kick with free slots."""
    taken: list[tuple[str, Work]] = []
    while len(taken) < free:
        more, lost = await _take_once(ctx, free - len(taken), running)
        taken += more
        if not lost:
            break
    return taken


async def _take_once(
    ctx: JobContext, free: int, running: frozenset[str]
) -> tuple[list[tuple[str, Work]], bool]:
    """Up to `free` of the oldest queued jobs not already running here, each with the work
    that runs it. One transaction takes them, reads what each needs, then opens their first
    attempts together (so a job's start costs a share of one write, not three writes) and
    claims them for this node (`leases`). Those writes apply only to jobs still queued, so a
    job another main node sharing the database took meanwhile is neither started nor failed
    here: no job is taken twice, and no lock is held while the plans are read."""
    async with ctx.database.begin() as db:
        rows = (
            await db.execute(
                select(Job.id, Job.origin)
                .where(Job.state == JobState.QUEUED, Job.id.not_in(running))
                .order_by(Job.state, Job.created_at)
                .limit(free)
            )
        ).all()
        plans: list[Plan] = []
        for job_id, origin in rows:
            try:
                if origin == "local":
                    plans.append(await plan_requested(db, ctx, job_id))
                else:
                    plans.append(_plan_handed(ctx, job_id))
            except Exception as exc:
                # The whole take rolls back (the error may have ended the transaction); the
                # pool fails this job on its own and takes the others again.
                raise BrokenJob(job_id) from exc
        # The writes last, together: SQLite's write lock is held for them alone.
        failures = [replace(p.failure, only_queued=True) for p in plans if p.failure is not None]
        await states.write(db, failures)
        claim = leases.claim(ctx.node_name, ctx.lease_s)
        starting = [
            (plan.job_id, replace(plan.opening, fields={**plan.opening.fields, **claim}), plan.work)
            for plan in plans
            if plan.opening is not None and plan.work is not None
        ]
        opened = await states.open_attempts(
            db, [opening for _, opening, _ in starting], only_queued=True
        )
    taken = [
        (job_id, work(attempt))
        for (job_id, _, work), attempt in zip(starting, opened, strict=True)
        if attempt is not None
    ]
    for job_id, _ in taken:
        # Held until its attempt was on record: a failed take leaves it to the next one.
        ctx.handed.pop(job_id, None)
        ctx.pool.changed(job_id)
    return taken, any(attempt is None for attempt in opened)


def _plan_handed(ctx: JobContext, job_id: str) -> Plan:
    handed = ctx.handed.get(job_id)
    if handed is None:
        # Its credential went with a restart of this node: it cannot run.
        return Plan(job_id, failure=states.failure(job_id, None, "interrupted", INTERRUPTED))

    def here(attempt: str) -> Work:
        async def work() -> None:
            await run_here(
                ctx,
                job_id,
                attempt,
                handed.spec,
                handed.credential,
                handed.signature,
                handed.scope,
            )

        return work

    return Plan(job_id, begin_here(job_id), here)


async def stop(ctx: JobContext, job_id: str) -> None:
    """Cancel the job wherever it is: its coroutine or its row in the queue on this node, or
    (several main nodes on one database) the node that runs it. A job that ended keeps its
    end."""
    if ctx.pool.cancel(job_id):
        return
    if await states.end_if_queued(ctx.database, job_id, JobState.CANCELLED):
        ctx.handed.pop(job_id, None)
        ctx.pool.changed(job_id)
        return
    # The pool took it between the two: its coroutine exists now (or it has ended).
    if not ctx.pool.cancel(job_id):
        await signals.cancel_elsewhere(ctx.database, job_id)
