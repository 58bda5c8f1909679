"""The job queue: the queued jobs the pool takes next, the work that runs each, and a cancel
that reaches a job wherever it is on this node (its coroutine, or its row in the queue).

Queued jobs wait as rows (`ix_jobs_state_created_at` hands out the oldest first); a job a main
sent here also waits in `JobContext.handed`, which holds its credential in memory only.
"""

from sqlalchemy import select

from pamnode.jobs import states
from pamnode.jobs.context import Handed, JobContext
from pamnode.jobs.dispatch import run_requested
from pamnode.jobs.local import run_here
from pamnode.jobs.models import Job
from pamnode.jobs.pool import Work
from pamnode.jobs.states import JobState

INTERRUPTED = "interrupted by restart"


def start_queue(ctx: JobContext) -> None:
    """Let the pool take queued jobs (after `pamnode.jobs.recovery.reconcile`)."""

    async def take(free: int, running: frozenset[str]) -> list[tuple[str, Work]]:
        return await take_queued(ctx, free, running)

    ctx.pool.fill_from(take)


async def take_queued(
    ctx: JobContext, free: int, running: frozenset[str]
) -> list[tuple[str, Work]]:
    """Up to `free` of the oldest queued jobs not already running here, with their work."""
    async with ctx.sessions() as db:
        rows = (
            await db.execute(
                select(Job.id, Job.origin)
                .where(Job.state == JobState.QUEUED, Job.id.not_in(running))
                .order_by(Job.state, Job.created_at)
                .limit(free)
            )
        ).all()
    taken: list[tuple[str, Work]] = []
    for job_id, origin in rows:
        if origin == "local":
            taken.append((job_id, _requested(ctx, job_id)))
            continue
        handed = ctx.handed.pop(job_id, None)
        if handed is None:
            # Its credential went with a restart of this node: it cannot run.
            await states.end_unfinished(
                ctx.sessions, job_id, JobState.FAILED, "interrupted", INTERRUPTED
            )
            continue
        taken.append((job_id, _handed(ctx, job_id, handed)))
    return taken


def _requested(ctx: JobContext, job_id: str) -> Work:
    async def work() -> None:
        await run_requested(ctx, job_id)

    return work


def _handed(ctx: JobContext, job_id: str, handed: Handed) -> Work:
    async def work() -> None:
        await run_here(ctx, job_id, handed.spec, handed.credential, handed.signature)

    return work


async def stop(ctx: JobContext, job_id: str) -> None:
    """Cancel the job on this node, running or queued; a job that ended keeps its end."""
    if ctx.pool.cancel(job_id):
        return
    if await states.end_if_queued(ctx.sessions, job_id, JobState.CANCELLED):
        ctx.handed.pop(job_id, None)
        ctx.pool.changed(job_id)
        return
    # The pool took it between the two: its coroutine exists now (or it has ended).
    ctx.pool.cancel(job_id)
