"""The peer side of delegated jobs: accept once per id, run here, report, cancel.

The credential that comes with a job lives only in the coroutine that runs it: it is never
written to this node's database, so a restart forgets it and the job ends as interrupted.
"""

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.app.node import Node
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, NotFound
from pamnode.identity.principal import Principal
from pamnode.jobs import states
from pamnode.jobs.executors.base import Credential, Target
from pamnode.jobs.models import Job
from pamnode.jobs.pool import until
from pamnode.jobs.runner import execute_here, signature
from pamnode.jobs.specs import JobSpec
from pamnode.jobs.states import JobState
from pamnode.jobs.wire import PeerJobIn
from pamnode.peers.serving import require_peer_caller


async def accept(db: AsyncSession, node: Node, principal: Principal, body: PeerJobIn) -> Job:
    """Take the job unless this id is known already; the same id twice never runs twice."""
    require_peer_caller(principal)
    known = await _existing(db, principal, body.id)
    if known is not None:
        return known
    spec = JobSpec(
        task=body.task,
        target=Target(**body.target.model_dump()),
        timeout_s=body.timeout_s,
        script_type=body.script.type if body.script else "",
        script_body=body.script.body if body.script else "",
    )
    job = Job(
        id=body.id,
        site_id=principal.site.id,
        origin="peer",
        task=spec.task.value,
        state=JobState.QUEUED,
        requested_by=f"{principal.user.login} (main node)",
        target={
            "host": spec.target.host,
            "port": spec.target.port,
            "protocol": spec.target.protocol,
        },
        timeout_s=spec.timeout_s,
        script_type=spec.script_type,
        script_body=spec.script_body,
    )
    # Committed, with its audit event, before the work starts: a second POST of this id finds
    # it, and nothing the request does afterwards can fail once the job may run.
    try:
        async with node.sessions.begin() as own:
            own.add(job)
            record(
                own,
                principal.audit_scope,
                "job.accept",
                job.id,
                task=job.task,
                host=spec.target.host,
            )
    except IntegrityError:
        known = await _existing(db, principal, body.id)
        assert known is not None
        return known
    credential = Credential(**body.credential.model_dump())
    sig = signature(node, principal.tenant.name, principal.site.name)
    node.jobs.submit(job.id, lambda: execute_here(node, job.id, spec, credential, sig))
    return job


async def _existing(db: AsyncSession, principal: Principal, job_id: str) -> Job | None:
    job = await db.get(Job, job_id)
    if job is not None and (job.site_id != principal.site.id or job.origin != "peer"):
        raise Conflict(f"job id {job_id} is already used on this node", code="job_id_taken")
    return job


async def status(
    db: AsyncSession,
    node: Node,
    principal: Principal,
    job_id: str,
    wait_s: float,
    seen: str | None,
) -> Job:
    """The job now if its state differs from `seen`, else at its next change (long-poll)."""
    require_peer_caller(principal)
    if await _existing(db, principal, job_id) is None:
        raise NotFound(f"this peer has no job {job_id}", code="job_not_found")
    # Hand the connection back before a long-poll, or waiting callers would drain the pool.
    await db.commit()
    change = node.jobs.watch(job_id)
    job = await states.read(node.sessions, job_id)
    if job.state != seen:
        return job
    await until(change, wait_s)
    return await states.read(node.sessions, job_id)


async def cancel(db: AsyncSession, node: Node, principal: Principal, job_id: str) -> Job:
    require_peer_caller(principal)
    job = await _existing(db, principal, job_id)
    if job is None:
        raise NotFound(f"this peer has no job {job_id}", code="job_not_found")
    record(db, principal.audit_scope, "job.cancel", job_id)
    # Ended before acting: the job's own state writes must not wait on this request.
    await db.commit()
    if not node.jobs.cancel(job_id) and job.state not in states.FINISHED:
        await states.update(node.sessions, job_id, state=JobState.CANCELLED)
    await node.jobs.wait(job_id, 10)
    return await states.read(node.sessions, job_id)
