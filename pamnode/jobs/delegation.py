"""Running a job through a peer node: send it, follow it to its end, fail over, cancel.

The peers to try come from `pamnode.jobs.dispatch` (the selection rule is in
`pamnode.peers.selection`); every peer tried is an attempt on the job's record.

What the main believes of a peer's answer: only what `pamnode.jobs.wire` allows. An answer
that breaks the contract, or a result signed for another tenant or site than the peer's URL
names, fails the job at once (`peer_answer_invalid`, `peer_signature_mismatch`) instead of
being retried or copied. The main's deadline (the job's timeout plus `follow_grace_s`) holds
on every turn of the follow loop, whatever the peer answers.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from pamnode.assets.credentials import Credential
from pamnode.core.errors import PeerFailure
from pamnode.crypto.keyring import KeyRing
from pamnode.db.base import utcnow
from pamnode.jobs import states
from pamnode.jobs.context import JobContext
from pamnode.jobs.specs import JobSpec, TaskResult
from pamnode.jobs.states import JobState
from pamnode.jobs.wire import PeerJobIn, PeerJobStatus
from pamnode.peers.addresses import parse_peer_url
from pamnode.peers.client import PeerEndpoint
from pamnode.peers.connection import endpoint
from pamnode.peers.models import PeerNode

log = logging.getLogger("pamnode.jobs")

LONG_POLL_S = 20
# A peer that answers a long-poll at once without news is asked again only after this pause.
IMPATIENT_PAUSE_S = 2.0
INVALID_ANSWER = "peer_answer_invalid"


@dataclass(frozen=True)
class Candidate:
    name: str
    endpoint: PeerEndpoint
    # The tenant and site the peer's URL names: a result signed otherwise is refused.
    tenant: str
    site: str

    @classmethod
    def of(cls, ring: KeyRing, tenant_id: str, peer: PeerNode) -> "Candidate":
        url = parse_peer_url(peer.url)
        return cls(peer.name, endpoint(ring, tenant_id, peer), url.tenant, url.site)

    def signed_here(self, signature: str | None) -> bool:
        """Whether a signature names this peer's tenant and site; no signature claims nothing
        (a job the peer ended before it ran, e.g. cancelled or interrupted)."""
        if signature is None:
            return True
        parts = signature.split("::")
        return len(parts) == 3 and bool(parts[0]) and parts[1:] == [self.tenant, self.site]


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
            if exc.code == INVALID_ANSWER:
                # The peer may have taken the job: another peer could run it a second time.
                await _give_up(ctx, job_id, candidate, attempt, exc.code, exc.message)
                return None
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
    deadline = (since or utcnow()).timestamp() + timeout_s + ctx.follow_grace_s
    seen = JobState.QUEUED
    problem = ""
    while True:
        left = deadline - utcnow().timestamp()
        if left <= 0:
            await _past_deadline(ctx, job_id, candidate, attempt, timeout_s, problem)
            return None
        asked = time.monotonic()
        # Neither the peer's wait nor a silent network may carry the loop past the deadline.
        wait = max(1, min(LONG_POLL_S, int(left)))
        try:
            remote = await ctx.peers.exchange(
                candidate.endpoint,
                "GET",
                f"peer/jobs/{job_id}?wait={wait}&seen={seen}",
                PeerJobStatus,
                timeout=min(LONG_POLL_S + 15, left + 2),
            )
        except PeerFailure as exc:
            if exc.code == INVALID_ANSWER:
                await _give_up(ctx, job_id, candidate, attempt, exc.code, exc.message)
                return None
            problem = exc.message
            await asyncio.sleep(min(2, max(0, left - (time.monotonic() - asked))))
            continue
        except asyncio.CancelledError:
            if ctx.pool.cancelled_by_user(job_id):
                await _cancel_on_peer(ctx, job_id, candidate, attempt)
            raise
        problem = ""
        if remote.finished:
            return await _take_result(ctx, job_id, candidate, attempt, remote)
        if remote.state == seen and time.monotonic() - asked < 1:
            await asyncio.sleep(IMPATIENT_PAUSE_S)
        if remote.state == JobState.RUNNING and seen != JobState.RUNNING:
            await states.update(
                ctx.sessions, job_id, state=JobState.RUNNING, started_at=remote.started_at
            )
        seen = remote.state


async def _take_result(
    ctx: JobContext, job_id: str, candidate: Candidate, attempt: str, remote: PeerJobStatus
) -> TaskResult | None:
    if not candidate.signed_here(remote.node_signature):
        message = (
            f"peer node '{candidate.name}' signed the job as '{remote.node_signature}', "
            f"not as a node of {candidate.tenant}/{candidate.site} that its URL names"
        )
        await _give_up(ctx, job_id, candidate, attempt, "peer_signature_mismatch", message)
        return None
    remote.output = states.capped(remote.output, ctx.output_cap_bytes)
    await states.end_attempt(ctx.sessions, attempt, "ran")
    await states.update(ctx.sessions, job_id, **remote.outcome())
    return remote.result()


async def _give_up(
    ctx: JobContext, job_id: str, candidate: Candidate, attempt: str, code: str, message: str
) -> None:
    """Fail the job for what the peer did; ask the peer to stop it, in case it still runs."""
    await _tell_peer_to_cancel(ctx, job_id, candidate)
    await states.end_attempt(ctx.sessions, attempt, "refused", message)
    await states.fail(ctx.sessions, job_id, code, message)


async def _past_deadline(
    ctx: JobContext, job_id: str, candidate: Candidate, attempt: str, timeout_s: int, problem: str
) -> None:
    if problem:
        message = f"lost contact with peer node '{candidate.name}': {problem}"
        await states.end_attempt(ctx.sessions, attempt, "lost", message)
        await states.fail(ctx.sessions, job_id, "peer_lost", message)
        return
    message = (
        f"peer node '{candidate.name}' did not finish the job within its {timeout_s} s "
        f"and {ctx.follow_grace_s:g} s of grace"
    )
    await _tell_peer_to_cancel(ctx, job_id, candidate)
    await states.end_attempt(ctx.sessions, attempt, "timed_out", message)
    await states.update(
        ctx.sessions, job_id, state=JobState.TIMED_OUT, error=message, error_code="timeout"
    )


async def _tell_peer_to_cancel(ctx: JobContext, job_id: str, candidate: Candidate) -> str:
    """Ask the peer to cancel the job; what went wrong, if it could not be told."""
    try:
        await ctx.peers.exchange(candidate.endpoint, "DELETE", f"peer/jobs/{job_id}", PeerJobStatus)
    except PeerFailure as exc:
        return f"the peer could not be told: {exc.message}"
    return ""


async def _cancel_on_peer(ctx: JobContext, job_id: str, candidate: Candidate, attempt: str) -> None:
    note = await _tell_peer_to_cancel(ctx, job_id, candidate)
    await states.end_attempt(ctx.sessions, attempt, "cancelled", note)
    await states.update(ctx.sessions, job_id, state=JobState.CANCELLED, error=note)
