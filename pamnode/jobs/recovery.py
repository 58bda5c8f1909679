"""After a restart: follow delegated jobs on their peers; end the rest as interrupted.

A job that ran here, or came here from a main, lost its coroutine (and, for the latter, its
credential) with the restart, so it is failed rather than run a second time.
"""

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.core.errors import PeerFailure
from pamnode.crypto.cipher import VaultError
from pamnode.crypto.keyring import KeyRingError
from pamnode.db.base import utcnow
from pamnode.identity.models import Site
from pamnode.jobs import states
from pamnode.jobs.context import JobContext
from pamnode.jobs.delegation import Candidate, follow
from pamnode.jobs.models import Job
from pamnode.jobs.pool import Work
from pamnode.jobs.states import JobState
from pamnode.peers.models import PeerNode

log = logging.getLogger("pamnode.jobs")

INTERRUPTED = "interrupted by restart"


async def reconcile(ctx: JobContext) -> None:
    follow_up: list[tuple[Job, Candidate, str]] = []
    async with ctx.sessions.begin() as db:
        unfinished = (
            await db.scalars(select(Job).where(Job.state.in_([s.value for s in states.UNFINISHED])))
        ).all()
        for job in unfinished:
            candidate = await _delegated_to(db, ctx, job)
            if candidate is not None and job.attempts:
                follow_up.append((job, candidate, job.attempts[-1].id))
                continue
            job.state, job.error, job.error_code = JobState.FAILED, INTERRUPTED, "interrupted"
            job.finished_at = utcnow()
            states.end_open_attempts(job, "interrupted", INTERRUPTED)
    for job, candidate, attempt_id in follow_up:
        log.info("following job %s on peer %s after restart", job.id, candidate.name)
        ctx.pool.submit(job.id, _follower(ctx, job, candidate, attempt_id))


def _follower(ctx: JobContext, job: Job, candidate: Candidate, attempt_id: str) -> Work:
    async def work() -> None:
        await follow(ctx, job.id, candidate, attempt_id, job.timeout_s, since=job.created_at)

    return work


async def _delegated_to(db: AsyncSession, ctx: JobContext, job: Job) -> Candidate | None:
    if job.origin != "local" or not job.peer_node or job.state == JobState.QUEUED:
        return None
    site = await db.get(Site, job.site_id)
    peer = await db.scalar(
        select(PeerNode).where(PeerNode.site_id == job.site_id, PeerNode.name == job.peer_node)
    )
    if site is None or peer is None:
        return None
    try:
        return Candidate.of(ctx.keyring, site.tenant_id, peer)
    except (PeerFailure, VaultError, KeyRingError) as exc:
        log.warning("cannot follow job %s on peer %s: %s", job.id, job.peer_node, exc)
        return None
