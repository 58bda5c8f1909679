"""Running a job through a peer node: send it, follow it to its end, fail over, cancel.

The peers to try come from `pamnode.jobs.dispatch` (the selection rule is in
`pamnode.peers.selection`); every peer tried is an attempt on the job's record.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from pamnode.db.base import utcnow
from pamnode.jobs import states
from pamnode.jobs.context import JobContext
from pamnode.jobs.specs import Credential, JobSpec, TaskResult
from pamnode.jobs.states import JobState
from pamnode.jobs.wire import PeerJobIn, PeerJobStatus
from pamnode.peers.client import PeerEndpoint
from pamnode.peers.trust import PeerFailure

log = logging.getLogger("pamnode.jobs")

# How long past its own timeout a delegated job may stay silent before the main gives up.
FOLLOW_GRACE_S = 60
LONG_POLL_S = 20


@dataclass(frozen=True)
class Candidate:
    name: str
    endpoint: PeerEndpoint


async def delegate(
    ctx: JobContext,
    job_id: str,
    spec: JobSpec,
    credential: Credential,
    candidates: list[Candidate],
) -> TaskResult | None:
    """Send the job to the first peer that accepts it; every refusal is an attempt on record."""
    body = PeerJobIn.of(job_id, spec, credential)
    reasons = []
    for candidate in candidates:
        attempt = await states.begin_attempt(ctx.sessions, job_id, candidate.name)
        try:
            await ctx.peers.exchange(candidate.endpoint, "POST", "peer/jobs", PeerJobStatus, body)
        except PeerFailure as exc:
            await states.end_attempt(ctx.sessions, attempt, "unreachable", exc.message)
            reasons.append(f"{candidate.name}: {exc.message}")
            continue
        await states.update(
            ctx.sessions, job_id, state=JobState.DISPATCHED, peer_node=candidate.name
        )
        log.info("job %s dispatched to peer %s", job_id, candidate.name)
        return await follow(ctx, job_id, candidate, attempt, spec.timeout_s)
    await states.fail(
        ctx.sessions,
        job_id,
        "peers_unreachable",
        "no assigned peer node could take the job: " + "; ".join(reasons),
    )
    return None


async def follow(
    ctx: JobContext,
    job_id: str,
    candidate: Candidate,
    attempt: str,
    timeout_s: int,
    since: datetime | None = None,
) -> TaskResult | None:
    """Long-poll the peer until the job ends there; never resend it, so it cannot run twice."""
    deadline = (since or utcnow()).timestamp() + timeout_s + FOLLOW_GRACE_S
    seen = JobState.QUEUED
    while True:
        try:
            remote = await ctx.peers.exchange(
                candidate.endpoint,
                "GET",
                f"peer/jobs/{job_id}?wait={LONG_POLL_S}&seen={seen}",
                PeerJobStatus,
                timeout=LONG_POLL_S + 15,
            )
        except PeerFailure as exc:
            if utcnow().timestamp() > deadline:
                message = f"lost contact with peer node '{candidate.name}': {exc.message}"
                await states.end_attempt(ctx.sessions, attempt, "lost", message)
                await states.fail(ctx.sessions, job_id, "peer_lost", message)
                return None
            await asyncio.sleep(2)
            continue
        except asyncio.CancelledError:
            if ctx.pool.cancelled_by_user(job_id):
                await _cancel_on_peer(ctx, job_id, candidate, attempt)
            raise
        if remote.finished:
            await states.end_attempt(ctx.sessions, attempt, "ran")
            await states.update(ctx.sessions, job_id, **remote.outcome())
            return remote.result()
        if remote.state == JobState.RUNNING and seen != JobState.RUNNING:
            await states.update(
                ctx.sessions, job_id, state=JobState.RUNNING, started_at=remote.started_at
            )
        seen = remote.state


async def _cancel_on_peer(ctx: JobContext, job_id: str, candidate: Candidate, attempt: str) -> None:
    try:
        await ctx.peers.exchange(candidate.endpoint, "DELETE", f"peer/jobs/{job_id}", PeerJobStatus)
        note = ""
    except PeerFailure as exc:
        note = f"the peer could not be told: {exc.message}"
    await states.end_attempt(ctx.sessions, attempt, "cancelled", note)
    await states.update(ctx.sessions, job_id, state=JobState.CANCELLED, error=note)
