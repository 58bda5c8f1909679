"""Execute on an asset or container, the Jobs report, and cancelling a job."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.app.node import Node
from pamnode.assets.models import Asset
from pamnode.assets.permissions import Action, require_asset
from pamnode.assets.tree import descendants
from pamnode.audit.service import record
from pamnode.core.errors import Forbidden, InvalidInput, NotFound
from pamnode.db.base import new_id
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.jobs import states
from pamnode.jobs.launch import run_requested
from pamnode.jobs.models import Job
from pamnode.jobs.scripts import find_script
from pamnode.jobs.specs import Task, check_runs_on, protocol_for
from pamnode.jobs.states import JobState

CONTAINER = "container"


@dataclass(frozen=True)
class Execution:
    batch_id: str | None
    jobs: list[Job]
    # Assets of a container the task does not apply to (e.g. Windows hosts for a Unix check).
    skipped: list[str]


def _applies(task: Task, script_type: str, asset: Asset) -> bool:
    try:
        check_runs_on(task, script_type, asset.type, asset.name)
    except InvalidInput:
        return False
    return True


async def execute(
    db: AsyncSession,
    node: Node,
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
            task=task.value,
            script_name=found.name if found else "",
            script_type=script_type,
            script_body=found.body if found else "",
            batch_id=batch_id,
            state=JobState.QUEUED,
            requested_by=principal.user.login,
            timeout_s=timeout_s,
            target={
                "host": host.host,
                "port": host.port,
                "protocol": protocol_for(host.type, host.use_https),
            },
        )
        for host in targets
    ]
    # Committed on their own, with their audit events, before any worker looks for them;
    # nothing the request does afterwards can fail once they may run.
    async with node.sessions.begin() as own:
        own.add_all(jobs)
        for job in jobs:
            record(
                own, principal.audit_scope, "job.start", job.asset_name, job=job.id, task=job.task
            )
    for job in jobs:
        node.jobs.submit(job.id, lambda job_id=job.id: run_requested(node, job_id))
    return Execution(batch_id, jobs, skipped)


@dataclass(frozen=True)
class JobFilter:
    asset_id: str | None = None
    state: str | None = None
    task: str | None = None
    node: str | None = None
    batch_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _visible(principal: Principal) -> Select[tuple[Job]]:
    query = select(Job).where(Job.site_id == principal.site.id)
    if not principal.can(Permission.JOBS_READ):
        query = query.where(Job.requested_by == principal.user.login)
    return query


async def list_jobs(
    db: AsyncSession, principal: Principal, where: JobFilter, limit: int, offset: int
) -> tuple[list[Job], int]:
    query = _visible(principal)
    if where.asset_id:
        query = query.where(Job.asset_id == where.asset_id)
    if where.state:
        query = query.where(Job.state == where.state)
    if where.task:
        query = query.where(Job.task == where.task)
    if where.node:
        # A node name, or a whole signature: node::tenant::site.
        query = query.where(
            (Job.node_signature == where.node) | Job.node_signature.startswith(f"{where.node}::")
        )
    if where.batch_id:
        query = query.where(Job.batch_id == where.batch_id)
    if where.since:
        query = query.where(Job.created_at >= where.since)
    if where.until:
        query = query.where(Job.created_at < where.until)
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
    return list((await db.scalars(page)).all()), total


async def get_job(db: AsyncSession, principal: Principal, job_id: str) -> Job:
    job = await db.scalar(_visible(principal).where(Job.id == job_id))
    if job is None:
        raise NotFound(f"this site has no job {job_id[:80]}", code="job_not_found")
    return job


async def cancel_job(db: AsyncSession, node: Node, principal: Principal, job_id: str) -> Job:
    job = await get_job(db, principal, job_id)
    if job.requested_by != principal.user.login and not principal.can(Permission.ASSETS_MANAGE_ALL):
        raise Forbidden(
            "only whoever asked for a job, or a site administrator or asset manager, may cancel it",
            code="permission_denied",
        )
    if job.state in states.FINISHED:
        raise InvalidInput(f"job {job_id} has already ended ({job.state})", code="job_finished")
    record(db, principal.audit_scope, "job.cancel", job.asset_name, job=job_id)
    # Ended before acting: the job's own state writes must not wait on this request.
    await db.commit()
    if not node.jobs.cancel(job_id):
        await states.update(node.sessions, job_id, state=JobState.CANCELLED)
    await node.jobs.wait(job_id, 15)
    return await states.read(node.sessions, job_id)
