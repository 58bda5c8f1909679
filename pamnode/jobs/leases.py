"""Each main node's hold on the jobs it runs, so that several can share one PostgreSQL.

A node claims a job when it takes it from the queue (`queue.take_queued` opens a job's first
attempt only while the job is still queued, so two nodes never both take it) and holds
it with a lease: `claimed_by` (its node name) and `lease_until`, renewed by `take_over` every
third of `job_lease_s` while the node lives. When a node stops renewing (killed, cut off from
the database), its lease lapses and another node takes its jobs over (`take_over`, run by
`jobs/recovery.py`). At startup a node takes back its own unfinished jobs at once: the
process that held them is gone.

Each main node sharing a database needs a node name of its own: the name is the claim.
"""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.db.base import utcnow
from pamnode.jobs.models import Job
from pamnode.jobs.states import JobColumns, JobState, lock_feed

# A node's renewals come this many times per lease: two may be missed before it lapses.
RENEWALS_PER_LEASE = 3
# What runs under a claim: a job the queue took and that has not ended.
_HELD = [JobState.DISPATCHED.value, JobState.RUNNING.value]

_RENEW = (
    update(Job)
    .where(Job.claimed_by == bindparam("node"), Job.state.in_(_HELD))
    .values(lease_until=bindparam("until"))
)


def claim(node_name: str, lease_s: float) -> JobColumns:
    """The columns of a job this node takes: written with the job's first attempt."""
    return {"claimed_by": node_name, "lease_until": utcnow() + timedelta(seconds=lease_s)}


@dataclass(frozen=True)
class Taken:
    job_id: str
    # The node that held it before (None: nobody, e.g. a job a main sent here).
    held_by: str | None


async def take_over(
    db: AsyncSession, node_name: str, lease_s: float, at_start: bool
) -> list[Taken]:
    """Claim, in the caller's transaction, the unfinished jobs whose holder is gone: those
    whose lease lapsed and, `at_start`, this node's own and the unclaimed ones (a job this
    node was sent by a main, whose credential went with the restart). Jobs still queued on
    a main are not taken: the queue runs them. Otherwise this node's lease on the jobs it
    runs is renewed in the same transaction."""
    await lock_feed(db)
    if not at_start:
        conn = await db.connection()
        until = utcnow() + timedelta(seconds=lease_s)
        await conn.execute(_RENEW, {"node": node_name, "until": until})
    now = utcnow()
    gone = [Job.lease_until < now]
    if at_start:
        gone += [Job.claimed_by == node_name, Job.claimed_by.is_(None)]
    rows = (
        await db.execute(
            select(Job.id, Job.claimed_by)
            .where(
                Job.state.in_(_HELD) | ((Job.state == JobState.QUEUED) & (Job.origin == "peer")),
                or_(*gone),
            )
            .with_for_update(skip_locked=True)
        )
    ).all()
    if rows:
        conn = await db.connection()
        await conn.execute(
            update(Job)
            .where(Job.id.in_([job_id for job_id, _ in rows]))
            .values(claim(node_name, lease_s))
        )
    return [Taken(job_id, held_by) for job_id, held_by in rows]
