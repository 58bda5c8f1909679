"""Running one job: here, or through a peer node chosen by the selection rule, with failover."""

import asyncio
import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from pamnode.app.node import Node
from pamnode.db.base import utcnow
from pamnode.jobs import states
from pamnode.jobs.executors.base import Credential, ExecutionError, TaskResult
from pamnode.jobs.specs import JobSpec, perform
from pamnode.jobs.states import JobState
from pamnode.peers.client import PeerEndpoint
from pamnode.peers.trust import PeerFailure

log = logging.getLogger("pamnode.jobs")

# How long past its own timeout a delegated job may stay silent before the main gives up.
FOLLOW_GRACE_S = 60
LONG_POLL_S = 20


def signature(node: Node, tenant: str, site: str) -> str:
    return f"{node.settings.node_name}::{tenant}::{site}"


@dataclass(frozen=True)
class Candidate:
    name: str
    endpoint: PeerEndpoint


async def _record_result(node: Node, job_id: str, result: TaskResult, sig: str) -> None:
    state = JobState.SUCCEEDED if result.exit_status == 0 else JobState.FAILED
    error = "" if state is JobState.SUCCEEDED else f"exit status {result.exit_status}"
    await states.update(
        node.sessions,
        job_id,
        state=state,
        exit_status=result.exit_status,
        output=result.output,
        facts=result.facts,
        node_signature=sig,
        error=error,
        host_key=result.host_key,
        error_code="" if state is JobState.SUCCEEDED else "nonzero_exit",
    )


async def execute_here(
    node: Node, job_id: str, spec: JobSpec, credential: Credential, sig: str
) -> TaskResult | None:
    """Run the task on this node and record the outcome; the result, if the task ran."""
    attempt = await states.begin_attempt(node.sessions, job_id, None)
    await states.update(node.sessions, job_id, state=JobState.RUNNING, started_at=utcnow())
    node.jobs.changed(job_id)
    try:
        result = await asyncio.wait_for(perform(spec, credential), spec.timeout_s)
    except TimeoutError:
        message = f"the job did not finish within {spec.timeout_s} s"
        await states.end_attempt(node.sessions, attempt, "timed_out", message)
        await states.update(
            node.sessions,
            job_id,
            state=JobState.TIMED_OUT,
            error=message,
            error_code="timeout",
            node_signature=sig,
        )
        return None
    except ExecutionError as exc:
        await states.end_attempt(node.sessions, attempt, "failed", exc.message)
        await states.fail(node.sessions, job_id, exc.code, exc.message, node_signature=sig)
        return None
    except asyncio.CancelledError:
        if node.jobs.cancelled_by_user(job_id):
            await states.end_attempt(node.sessions, attempt, "cancelled")
            await states.update(node.sessions, job_id, state=JobState.CANCELLED, node_signature=sig)
        raise
    await states.end_attempt(node.sessions, attempt, "ran")
    await _record_result(node, job_id, result, sig)
    return result


async def delegate(
    node: Node, job_id: str, spec: JobSpec, credential: Credential, candidates: list[Candidate]
) -> TaskResult | None:
    """Send the job to the first peer that accepts it; every refusal is an attempt on record."""
    payload = {"id": job_id, **spec.to_wire(), "credential": asdict(credential)}
    reasons = []
    for candidate in candidates:
        attempt = await states.begin_attempt(node.sessions, job_id, candidate.name)
        try:
            await node.peer_clients.call(candidate.endpoint, "POST", "peer/jobs", payload)
        except PeerFailure as exc:
            await states.end_attempt(node.sessions, attempt, "unreachable", exc.message)
            reasons.append(f"{candidate.name}: {exc.message}")
            continue
        await states.update(
            node.sessions, job_id, state=JobState.DISPATCHED, peer_node=candidate.name
        )
        log.info("job %s dispatched to peer %s", job_id, candidate.name)
        return await follow(node, job_id, candidate, attempt, spec.timeout_s)
    await states.fail(
        node.sessions,
        job_id,
        "peers_unreachable",
        "no assigned peer node could take the job: " + "; ".join(reasons),
    )
    return None


async def follow(
    node: Node,
    job_id: str,
    candidate: Candidate,
    attempt: str,
    timeout_s: int,
    since: datetime | None = None,
) -> TaskResult | None:
    """Long-poll the peer until the job ends there; never resend it, so it cannot run twice."""
    deadline = (since or utcnow()).timestamp() + timeout_s + FOLLOW_GRACE_S
    seen = "queued"
    last_problem = ""
    while True:
        try:
            response = await node.peer_clients.call(
                candidate.endpoint,
                "GET",
                f"peer/jobs/{job_id}?wait={LONG_POLL_S}&seen={seen}",
                timeout=LONG_POLL_S + 15,
            )
        except PeerFailure as exc:
            last_problem = exc.message
            if utcnow().timestamp() > deadline:
                message = f"lost contact with peer node '{candidate.name}': {last_problem}"
                await states.end_attempt(node.sessions, attempt, "lost", message)
                await states.fail(node.sessions, job_id, "peer_lost", message)
                return None
            await asyncio.sleep(2)
            continue
        except asyncio.CancelledError:
            if node.jobs.cancelled_by_user(job_id):
                await _cancel_on_peer(node, job_id, candidate, attempt)
            raise
        remote = response.json()
        if remote["state"] in states.FINISHED:
            return await _take_remote_result(node, job_id, remote, attempt)
        if remote["state"] == JobState.RUNNING and seen != JobState.RUNNING:
            await states.update(
                node.sessions,
                job_id,
                state=JobState.RUNNING,
                started_at=_when(remote["started_at"]),
            )
        seen = remote["state"]


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def _take_remote_result(
    node: Node, job_id: str, remote: dict, attempt: str
) -> TaskResult | None:
    await states.end_attempt(node.sessions, attempt, "ran")
    await states.update(
        node.sessions,
        job_id,
        state=remote["state"],
        exit_status=remote["exit_status"],
        output=remote["output"],
        facts=remote["facts"],
        error=remote["error"],
        error_code=remote["error_code"],
        node_signature=remote["node_signature"],
        host_key=remote["host_key"],
        started_at=_when(remote["started_at"]),
        finished_at=_when(remote["finished_at"]),
    )
    if (
        remote["state"] in (JobState.SUCCEEDED, JobState.FAILED)
        and remote["exit_status"] is not None
    ):
        return TaskResult(
            remote["exit_status"], remote["output"], remote["facts"], remote.get("host_key")
        )
    return None


async def _cancel_on_peer(node: Node, job_id: str, candidate: Candidate, attempt: str) -> None:
    try:
        await node.peer_clients.call(candidate.endpoint, "DELETE", f"peer/jobs/{job_id}")
        note = ""
    except PeerFailure as exc:
        note = f"the peer could not be told: {exc.message}"
    await states.end_attempt(node.sessions, attempt, "cancelled", note)
    await states.update(node.sessions, job_id, state=JobState.CANCELLED, error=note)
