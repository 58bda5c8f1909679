"""Job changes signalled between main nodes that share one PostgreSQL database: the channels,
and what a node sends on them (`jobs/listening.py` receives).

Each node runs its own jobs and wakes its own waiters (`JobPool.changed`). What another node
does reaches this one through PostgreSQL's notices (`pamnode.db.notices`):
- FEED: a transaction numbered job changes in the job feed. This node reads which jobs changed
  since the feed position it saw last and wakes their waiters (a cancel answered here for a
  job that ran there, a peer's feed long-poll).
- QUEUED: jobs were queued; this node's pool looks for work at once.
- CANCEL: a user cancelled, on another node, a job this node runs.

Notices may be lost while a listener reconnects: the feed is read again then, and every
`job_lease_s / 3` in any case, so waiters wake at the latest on that timer. A cancel lost that
way is not repeated: the cancel's answer then shows the job still running.
"""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.db import notices

FEED = "pamnode_job_feed"
QUEUED = "pamnode_jobs_queued"
CANCEL = "pamnode_job_cancel"


async def feed_moved(db: AsyncSession) -> None:
    await notices.send(db, FEED, "")


async def jobs_queued(db: AsyncSession) -> None:
    await notices.send(db, QUEUED, "")


async def cancel_elsewhere(database: async_sessionmaker[AsyncSession], job_id: str) -> None:
    async with database.begin() as db:
        await notices.send(db, CANCEL, job_id)
