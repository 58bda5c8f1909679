"""This node's ear for the other main nodes on its PostgreSQL database (`jobs/signals.py`
says what each channel carries): it wakes this node's waiters on their job changes, takes
newly queued work, and cancels a job it runs when a user asked another node to."""

import asyncio

from sqlalchemy import func, select

from pamnode.db.notices import Listener
from pamnode.jobs.context import JobContext
from pamnode.jobs.leases import RENEWALS_PER_LEASE
from pamnode.jobs.models import Job
from pamnode.jobs.pool import until
from pamnode.jobs.signals import CANCEL, FEED, QUEUED

# Changed jobs read per query while catching up with the feed.
CATCH_UP_ROWS = 1000


async def follow_other_nodes(ctx: JobContext, database_url: str) -> None:
    """Listen to the other nodes and wake this node's waiters on their changes. Runs until
    cancelled."""
    moved = asyncio.Event()

    def connected() -> None:
        # What was sent while nobody listened: read from the feed, and the queue, now.
        moved.set()
        ctx.pool.kick()

    def cancel(job_id: str) -> None:
        # A job this node does not run (any more) is left as it is.
        ctx.pool.cancel(job_id)

    listener = Listener(
        database_url,
        {
            FEED: lambda _: moved.set(),
            QUEUED: lambda _: ctx.pool.kick(),
            CANCEL: cancel,
        },
        connected,
    )
    listening = asyncio.create_task(listener.run(), name="listening to other nodes")
    try:
        async with ctx.database() as db:
            seen = await db.scalar(select(func.coalesce(func.max(Job.change_seq), 0)))
        while True:
            await until(moved, ctx.lease_s / RENEWALS_PER_LEASE)
            moved.clear()
            seen = await _wake_changed(ctx, seen or 0)
    finally:
        listening.cancel()


async def _wake_changed(ctx: JobContext, seen: int) -> int:
    """Wake the waiters on every job changed after feed position `seen`; the new position.
    The feed numbers changes in commit order, so none is passed over."""
    while True:
        async with ctx.database() as db:
            rows = (
                await db.execute(
                    select(Job.id, Job.change_seq)
                    .where(Job.change_seq > seen)
                    .order_by(Job.change_seq)
                    .limit(CATCH_UP_ROWS)
                )
            ).all()
        for job_id, _ in rows:
            ctx.pool.changed(job_id)
        if rows:
            # Not None: the query asked for numbers past `seen`.
            seen = rows[-1].change_seq or seen
        if len(rows) < CATCH_UP_ROWS:
            return seen
