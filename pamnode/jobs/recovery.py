"""Jobs whose node is gone: this node's own after a restart, or another main node's whose
lease lapsed (`jobs/leases.py`). Delegated jobs are followed on their peers; what cannot go on
is ended as interrupted.

A job that was running on the lost node, or came here from a main, lost its coroutine (and,
for the latter, its credential), so it is failed rather than run a second time; unless it only
reads the host (`specs.IDEMPOTENT`, the status checks) and was asked for on this database: it
is queued again, and its lost attempt stays in its details. A delegated
job is followed on its peer, never sent again, so it cannot run twice either; when it was
another node's, its attempt there is closed as `taken_over` and a new one, this node's, follows
it (the job's details show both). A job no worker had taken yet is still queued, and the queue
takes it.
"""

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.core.errors import PeerFailure
from pamnode.crypto.cipher import VaultError
from pamnode.crypto.keyring import KeyRingError
from pamnode.executors.specs import IDEMPOTENT
from pamnode.identity.models import Site
from pamnode.jobs import leases, signals, states
from pamnode.jobs.context import JobContext
from pamnode.jobs.delegation import follow
from pamnode.jobs.models import Job
from pamnode.jobs.pool import Work
from pamnode.jobs.queue import INTERRUPTED
from pamnode.jobs.states import Change, JobColumns, JobState, Opening
from pamnode.peers.models import Component, PeerNode
from pamnode.peers.routing import Candidate

log = logging.getLogger("pamnode.jobs")


_QUEUED_AGAIN: JobColumns = {"state": JobState.QUEUED, "claimed_by": None, "lease_until": None}


async def reconcile(ctx: JobContext) -> None:
    """At startup: take back this node's unfinished jobs (its previous process is gone)."""
    await _recover(ctx, at_start=True)


async def keep_leases(ctx: JobContext) -> None:
    """While the node lives: renew its hold on its jobs and take over those of nodes that
    stopped renewing theirs. Runs until cancelled."""
    every = ctx.lease_s / leases.RENEWALS_PER_LEASE
    while True:
        await asyncio.sleep(every)
        try:
            await _recover(ctx, at_start=False)
            # Jobs another main node queued (and may have left): polling is the fallback.
            ctx.pool.kick()
        except Exception:
            # The database may be away for a moment: the next round tries again.
            log.exception("renewing job leases failed")


async def _recover(ctx: JobContext, at_start: bool) -> None:
    follow_up: list[tuple[Job, Candidate, str]] = []
    async with ctx.database.begin() as db:
        taken = await leases.take_over(db, ctx.node_name, ctx.lease_s, at_start)
        if not taken:
            return
        held_by = {t.job_id: t.held_by for t in taken}
        jobs = (await db.scalars(select(Job).where(Job.id.in_(held_by)))).all()
        changes: list[Change] = []
        queued_again = False
        openings: list[Opening] = []
        for job in jobs:
            lost = held_by[job.id]
            candidate = await _delegated_to(db, ctx, job)
            if candidate is None or not job.attempts:
                message = INTERRUPTED if at_start else _lost_message(lost, ctx.node_name)
                open_attempt = _open_attempt(job)
                if job.origin == "local" and job.task in IDEMPOTENT:
                    # Its credential is in the vault: whichever node takes it runs it again.
                    changes.append(
                        Change(job.id, _QUEUED_AGAIN, open_attempt, "interrupted", message)
                    )
                    queued_again = True
                    continue
                fields: JobColumns = {
                    "state": JobState.FAILED,
                    "error": message,
                    "error_code": "interrupted",
                }
                changes.append(Change(job.id, fields, open_attempt, "interrupted", message))
            elif lost in (None, ctx.node_name):
                follow_up.append((job, candidate, job.attempts[-1].id))
            else:
                message = f"main node '{lost}' was lost; '{ctx.node_name}' follows the job"
                last = job.attempts[-1].id
                openings.append(Opening(job.id, job.peer_node, {}, last, "taken_over", message))
                follow_up.append((job, candidate, ""))
        await states.write(db, changes)
        if queued_again:
            await signals.jobs_queued(db)
        opened = dict(
            zip([o.job_id for o in openings], await states.open_attempts(db, openings), strict=True)
        )
    if queued_again:
        ctx.pool.kick()
    for job, candidate, attempt_id in follow_up:
        attempt = attempt_id or opened.get(job.id)
        if attempt is None:
            continue  # it ended meanwhile
        log.info(
            "following job %s on peer %s (held by %s)",
            job.id,
            candidate.name,
            held_by[job.id],
            extra={"job_id": job.id, "peer": candidate.name},
        )
        ctx.pool.submit(job.id, _follower(ctx, job, candidate, attempt))
        ctx.pool.changed(job.id)


def _open_attempt(job: Job) -> str | None:
    last = job.attempts[-1] if job.attempts else None
    return last.id if last is not None and last.finished_at is None else None


def _lost_message(lost: str | None, here: str) -> str:
    return f"interrupted: main node '{lost}' was lost while running the job; '{here}' took it over"


def _follower(ctx: JobContext, job: Job, candidate: Candidate, attempt_id: str) -> Work:
    async def work() -> None:
        link = ctx.links.get(ctx, candidate)
        ended = link.follow(job.id, attempt_id)
        # Its end may lie behind the feed's cursor (moved on meanwhile): asked once directly.
        await link.look_up(job.id)
        await follow(ctx, job.id, link, attempt_id, job.timeout_s, job.created_at, ended)

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
        return Candidate.of(ctx.keyring, site.tenant_id, peer, Component.JOB_RUNNER)
    except (PeerFailure, VaultError, KeyRingError) as exc:
        log.warning(
            "cannot follow job %s on peer %s: %s",
            job.id,
            job.peer_node,
            exc,
            extra={"job_id": job.id, "peer": job.peer_node},
        )
        return None
