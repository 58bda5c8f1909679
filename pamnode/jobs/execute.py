"""Execute on an asset or container: the jobs it makes, committed to the queue."""

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.models import Asset
from pamnode.assets.permissions import Action, require_asset
from pamnode.assets.tree import descendants
from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import InvalidInput
from pamnode.db.base import new_id
from pamnode.executors.specs import JobSpec, Target, Task, check_runs_on, protocol_for
from pamnode.identity.principal import Principal
from pamnode.jobs import signals
from pamnode.jobs.context import JobContext
from pamnode.jobs.models import Job
from pamnode.jobs.scripts import find_script
from pamnode.jobs.states import JobState

log = logging.getLogger("pamnode.jobs")

CONTAINER = "container"


@dataclass(frozen=True)
class Execution:
    batch_id: str | None
    jobs: list[Job]
    # Assets of a container the task does not apply to (e.g. Windows hosts for a Unix check).
    skipped: list[str]


def _target(host: Asset) -> Target:
    # Hosts always have an address (the library refuses one without); containers never run.
    assert host.host is not None and host.port is not None
    return Target(host.host, host.port, protocol_for(host.type, host.use_https))


def _applies(task: Task, script_type: str, asset: Asset) -> bool:
    try:
        check_runs_on(task, script_type, asset.type, asset.name)
    except InvalidInput:
        return False
    return True


async def execute(
    db: AsyncSession,
    ctx: JobContext,
    principal: Principal,
    asset_id: str,
    task: Task,
    script: str | None,
    timeout_s: int,
) -> Execution:
    asset, _ = await require_asset(db, principal, asset_id, Action.EXECUTE)
    if (task is Task.SCRIPT) != (script is not None):
        raise InvalidInput(
            "name a script to run with the task 'script', and only then", code="script_missing"
        )
    found = await find_script(db, principal, script) if script else None
    script_type = found.type if found else ""
    if asset.type == CONTAINER:
        below = [d.id for d in await descendants(db, asset.id) if d.type != CONTAINER]
        hosts = list((await db.scalars(select(Asset).where(Asset.id.in_(below)))).all())
        targets = [host for host in hosts if _applies(task, script_type, host)]
        skipped = sorted(host.name for host in hosts if host not in targets)
        if not targets:
            raise InvalidInput(
                f"container '{asset.name}' holds no asset that {task.value} runs on",
                code="nothing_to_run",
            )
        batch_id: str | None = new_id()
    else:
        check_runs_on(task, script_type, asset.type, asset.name)
        targets, skipped, batch_id = [asset], [], None
    jobs = [
        Job(
            id=new_id(),
            site_id=principal.site.id,
            asset_id=host.id,
            asset_name=host.name,
            script_name=found.name if found else "",
            batch_id=batch_id,
            state=JobState.QUEUED,
            requested_by=principal.user.login,
            **JobSpec(
                task=task,
                target=_target(host),
                timeout_s=timeout_s,
                script_type=script_type,
                script_body=found.body if found else "",
            ).columns(),
        )
        for host in targets
    ]
    db.add_all(jobs)
    await signals.jobs_queued(db)
    for job in jobs:
        record(
            db,
            principal.audit_scope,
            AuditAction.JOB_START,
            job.asset_name,
            job=job.id,
            task=job.task,
        )
    # Committed, with their audit events, in the request's own transaction (a second one
    # would hold a second connection per request) before the pool looks for them; nothing
    # the request does afterwards can fail once they may run.
    await db.commit()
    for job in jobs:
        log.info(
            "job %s queued: %s on %s by %s",
            job.id,
            job.task,
            job.asset_name,
            job.requested_by,
            extra={"job_id": job.id},
        )
    ctx.pool.kick()
    return Execution(batch_id, jobs, skipped)
