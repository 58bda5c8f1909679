"""Running a job's task on this node, through the executor for its target's protocol.

Two writes: the attempt opens as the queue takes the job (`begin_here`), and closes with its
outcome (`run_here`). The executor connects to the address this node's destination policy
resolved the target to, or the job fails with the policy's refusal.
"""

import asyncio
from dataclasses import replace

from pamnode.assets.credentials import Credential
from pamnode.audit.service import AuditScope
from pamnode.audit.targets import allowed_destination
from pamnode.core.errors import ExecutionError, PamError
from pamnode.db.base import utcnow
from pamnode.executors.specs import JobSpec, TaskResult
from pamnode.jobs import states
from pamnode.jobs.context import JobContext
from pamnode.jobs.states import JobState, Opening


def begin_here(job_id: str) -> Opening:
    """The job's attempt on this node, opened as the queue takes it."""
    return Opening(job_id, None, {"state": JobState.RUNNING, "started_at": utcnow()})


async def run_here(
    ctx: JobContext,
    job_id: str,
    attempt: str,
    spec: JobSpec,
    credential: Credential,
    sig: str,
    scope: AuditScope,
) -> TaskResult | None:
    """Run the task on this node and record the outcome with its attempt (`begin_here`); the
    result, if the task ran."""
    executor = ctx.executors[spec.target.protocol]
    target = spec.target
    try:
        destination = await allowed_destination(
            ctx.destinations, ctx.database, scope, target.host, target.port, via="job", job=job_id
        )
    except PamError as exc:
        await states.fail(ctx.database, job_id, attempt, exc.code, exc.message, node_signature=sig)
        return None
    spec = replace(spec, target=replace(target, address=destination.address))
    try:
        result = await asyncio.wait_for(executor.run(spec, credential), spec.timeout_s)
    except asyncio.CancelledError:
        if ctx.pool.cancelled_by_user(job_id):
            await _cancelled(ctx, job_id, attempt, sig)
        raise
    except (TimeoutError, ExecutionError) as exc:
        if ctx.pool.cancelled_by_user(job_id):
            # The user's cancel landed as the connection gave way (Python 3.11's wait_for can
            # hand it back as a timeout): the cancel is what happened to the job.
            await _cancelled(ctx, job_id, attempt, sig)
        elif isinstance(exc, ExecutionError):
            await states.fail(
                ctx.database, job_id, attempt, exc.code, exc.message, "failed", node_signature=sig
            )
        else:
            message = f"the job did not finish within {spec.timeout_s} s"
            await states.time_out(ctx.database, job_id, attempt, message, node_signature=sig)
        return None
    succeeded = result.exit_status == 0
    await states.end(
        ctx.database,
        job_id,
        attempt,
        "ran",
        state=JobState.SUCCEEDED if succeeded else JobState.FAILED,
        exit_status=result.exit_status,
        output=states.capped(result.output, ctx.output_cap_bytes),
        facts=result.facts,
        node_signature=sig,
        error="" if succeeded else f"exit status {result.exit_status}",
        error_code="" if succeeded else "nonzero_exit",
        host_key=result.host_key,
    )
    return result


async def _cancelled(ctx: JobContext, job_id: str, attempt: str, sig: str) -> None:
    await states.end(
        ctx.database, job_id, attempt, "cancelled", state=JobState.CANCELLED, node_signature=sig
    )
