"""Running a job through a peer node: send it, wait for its end, fail over, cancel.

The peers to try come from `pamnode.jobs.dispatch` (the dial's plan, `pamnode.peers.routing`)
and the dial tries them in order; every peer tried is an attempt on the job's record, the
first opened in the queue's take, each next as the previous closes. The traffic
with each peer (batches out, one feed back) is `pamnode.jobs.peer_link`'s: this module is one
job's story. The main's deadline (the job's timeout plus `follow_grace_s`) holds whatever the
peer answers or fails to answer.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from pamnode.assets.credentials import Credential
from pamnode.core.errors import PeerFailure
from pamnode.db.base import utcnow
from pamnode.executors.specs import JobSpec, TaskResult
from pamnode.jobs import states
from pamnode.jobs.context import JobContext
from pamnode.jobs.peer_link import INVALID_ANSWER, PeerLink
from pamnode.jobs.states import JobState, Opening
from pamnode.jobs.wire import PeerJobIn
from pamnode.peers.routing import Candidate, Failover, dial

log = logging.getLogger("pamnode.jobs")

FAILOVER = Failover("job", "no assigned peer node could take the job", code="peers_unreachable")


def begin_delegation(job_id: str, first: Candidate) -> Opening:
    """The job's attempt on the first peer to try, opened as the queue takes it."""
    return Opening(job_id, first.name, {"state": JobState.DISPATCHED})


async def delegate(
    ctx: JobContext,
    job_id: str,
    attempt: str,
    spec: JobSpec,
    credential: Credential,
    candidates: list[Candidate],
) -> TaskResult | None:
    """Send the job to the first peer that takes it (its attempt opened by
    `begin_delegation`) and follow it there; every refusal is an attempt on record."""
    sending = _Sending(ctx, job_id, attempt, PeerJobIn.of(job_id, spec, credential))
    try:
        link = await dial(candidates, sending.send, sending.note, ctx.metrics, FAILOVER)
    except PeerFailure as exc:
        await states.end(
            ctx.database,
            job_id,
            sending.attempt,
            "unreachable",
            sending.refused or "",
            state=JobState.FAILED,
            error_code=exc.code,
            error=exc.message,
        )
        return None
    if link is None:
        return None
    return await follow(ctx, job_id, link, sending.attempt, spec.timeout_s, ended=sending.ended)


@dataclass
class _Sending:
    """One job on its way through its candidates, for the dial: the attempt open now (the
    first opened in the queue's take, each next as the previous closes) and why the peer of
    the previous one did not take the job."""

    ctx: JobContext
    job_id: str
    attempt: str
    body: PeerJobIn
    refused: str | None = None
    ended: "asyncio.Future[TaskResult | None] | None" = None

    async def send(self, candidate: Candidate) -> PeerLink | None:
        """The link of the peer that took the job; None when the job ended on the way
        (cancelled before it went out again, or an answer that breaks the contract)."""
        ctx, job_id = self.ctx, self.job_id
        if self.refused is not None:
            following = Opening(
                job_id,
                candidate.name,
                {"state": JobState.DISPATCHED},
                ended=self.attempt,
                outcome="unreachable",
                error=self.refused,
            )
            opened = await states.apart(ctx.database, states.open_attempt, following)
            if opened is None:
                return None  # cancelled before it went out again
            self.attempt = opened
        link = ctx.links.get(ctx, candidate)
        self.ended = link.follow(job_id, self.attempt)
        try:
            batch_request = await link.send(self.body)
        except PeerFailure as exc:
            if exc.code == INVALID_ANSWER:
                # The peer may have taken the job: another peer could run it a second time.
                await link.give_up([job_id], exc.code, exc.message)
                return None
            link.forget(job_id)
            raise
        except asyncio.CancelledError:
            await _cancelled(ctx, job_id, link, self.attempt)
            raise
        log.info(
            "job %s sent to peer %s",
            job_id,
            candidate.name,
            extra={"job_id": job_id, "peer": candidate.name, "peer_request_id": batch_request},
        )
        return link

    async def note(self, number: int, candidate: Candidate | None, failure: str | None) -> None:
        """A refusal closes the attempt when the next one opens (or the job fails)."""
        if not failure or candidate is None:
            return
        self.refused = failure
        log.warning(
            "job %s not taken by peer %s: %s",
            self.job_id,
            candidate.name,
            failure,
            extra={"job_id": self.job_id, "peer": candidate.name},
        )


async def follow(
    ctx: JobContext,
    job_id: str,
    link: PeerLink,
    attempt: str,
    timeout_s: int,
    since: datetime | None = None,
    ended: "asyncio.Future[TaskResult | None] | None" = None,
) -> TaskResult | None:
    """Wait for the job's end on the peer; never resend it, so it cannot run twice."""
    if ended is None:
        ended = link.follow(job_id, attempt)
    left = (since or utcnow()).timestamp() + timeout_s + ctx.follow_grace_s - utcnow().timestamp()
    try:
        await asyncio.wait({ended}, timeout=max(0.0, left))
        if not ended.done():
            # The deadline: one last look, which also tells a silent peer from a slow job.
            problem = await link.check()
            if not ended.done():
                link.forget(job_id)
                await _past_deadline(ctx, job_id, link, attempt, timeout_s, problem)
                return None
    except asyncio.CancelledError:
        await _cancelled(ctx, job_id, link, attempt)
        raise
    return ended.result()


async def _past_deadline(
    ctx: JobContext, job_id: str, link: PeerLink, attempt: str, timeout_s: int, problem: str
) -> None:
    name = link.candidate.name
    if problem:
        message = f"lost contact with peer node '{name}': {problem}"
        await states.fail(ctx.database, job_id, attempt, "peer_lost", message, outcome="lost")
        return
    message = (
        f"peer node '{name}' did not finish the job within its {timeout_s} s "
        f"and {ctx.follow_grace_s:g} s of grace"
    )
    await link.cancel([job_id])
    await states.time_out(ctx.database, job_id, attempt, message)


async def _cancelled(ctx: JobContext, job_id: str, link: PeerLink, attempt: str) -> None:
    """The job's coroutine was cancelled: by a user (pass it on to the peer), or because this
    node stops (the peer carries on; the job is followed again after the restart)."""
    link.forget(job_id)
    if not ctx.pool.cancelled_by_user(job_id):
        return
    note = await link.cancel([job_id])
    await states.end(
        ctx.database, job_id, attempt, "cancelled", note, state=JobState.CANCELLED, error=note
    )
