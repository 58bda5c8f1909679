"""After a restart: follow delegated jobs on their peers; end what cannot go on as interrupted.

A job that was running here, or came here from a main, lost its coroutine (and, for the latter,
its credential) with the restart, so it is failed rather than run a second time. A job this
node was asked for that no worker had taken yet is still queued, and the queue takes it.
"""

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.core.errors import PeerFailure
from pamnode.crypto.cipher import VaultError
from pamnode.crypto.keyring import KeyRingError
from pamnode.identity.models import Site
from pamnode.jobs import states
from pamnode.jobs.context import JobContext
from pamnode.jobs.delegation import follow
from pamnode.jobs.models import Job
from pamnode.jobs.peer_link import Candidate
from pamnode.jobs.pool import Work
from pamnode.jobs.queue import INTERRUPTED
from pamnode.jobs.states import Change, JobState
from pamnode.peers.models import PeerNode

log = logging.getLogger("pamnode.jobs")


async def reconcile(ctx: JobContext) -> None:
    follow_up: list[tuple[Job, Candidate, str]] = []
    async with ctx.sessions.begin() as db:
        unfinished = (
            await db.scalars(select(Job).where(Job.state.in_([s.value for s in states.UNFINISHED])))
        ).all()
        ended: list[str] = []
        for job in unfinished:
            if job.origin == "local" and job.state == JobState.QUEUED:
                continue
            candidate = await _delegated_to(db, ctx, job)
            if candidate is not None and job.attempts:
                follow_up.append((job, candidate, job.attempts[-1].id))
            else:
                ended.append(job.id)
        fields = {"state": JobState.FAILED, "error": INTERRUPTED, "error_code": "interrupted"}
        await states.write(db, [Change(job_id, fields) for job_id in ended])
        await states.end_open_attempts(db, ended, "interrupted", INTERRUPTED)
    for job, candidate, attempt_id in follow_up:
        log.info(
            "following job %s on peer %s after restart",
            job.id,
            candidate.name,
            extra={"job_id": job.id, "peer": candidate.name},
        )
        ctx.pool.submit(job.id, _follower(ctx, job, candidate, attempt_id))


def _follower(ctx: JobContext, job: Job, candidate: Candidate, attempt_id: str) -> Work:
    async def work() -> None:
        link = ctx.links.get(ctx, candidate)
        await follow(ctx, job.id, link, attempt_id, job.timeout_s, since=job.created_at)

    return work


async def _delegated_to(db: AsyncSession, ctx: JobContext, job: Job) -> Candidate | None:
    if job.origin != "local" or not job.peer_node:
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
        log.warning(
            "cannot follow job %s on peer %s: %s",
            job.id,
            job.peer_node,
            exc,
            extra={"job_id": job.id, "peer": job.peer_node},
        )
        return None
