"""Where a requested job runs: through a peer when its asset has any (the dial's plan,
`pamnode.peers.routing`, with the selection rule of `pamnode.peers.selection`), else here.
This module decides, as the queue takes the job; `delegation` and `local` run.
"""

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from pamnode.assets.models import Asset, AssetHostKey
from pamnode.assets.ssh import pin_first_key
from pamnode.audit.service import AuditScope
from pamnode.core.errors import Unavailable
from pamnode.executors.specs import JobSpec, TaskResult
from pamnode.identity.models import Site, Tenant
from pamnode.jobs import states
from pamnode.jobs.context import JobContext
from pamnode.jobs.delegation import begin_delegation, delegate
from pamnode.jobs.local import begin_here, run_here
from pamnode.jobs.models import Job
from pamnode.jobs.pool import Work
from pamnode.jobs.states import Change, Opening
from pamnode.peers.routing import plan_dial
from pamnode.peers.selection import Purpose

ASSET_GONE = "the asset no longer exists"

# One statement, built once, for the job, where it was asked for, whether its asset still
# exists and the key pinned for its host: this runs for every job, and the ORM's loading (then
# building the statement) was most of the main's time per job.
_REQUESTED = (
    select(
        Job,
        Site.name.label("site"),
        Tenant.id.label("tenant_id"),
        Tenant.name.label("tenant"),
        Asset.id.label("asset_id"),
        AssetHostKey.key.label("pinned"),
    )
    .options(lazyload(Job.attempts))
    .join(Site, Site.id == Job.site_id)
    .join(Tenant, Tenant.id == Site.tenant_id)
    .outerjoin(Asset, Asset.id == Job.asset_id)
    .outerjoin(AssetHostKey, AssetHostKey.asset_id == Job.asset_id)
    .where(Job.id == bindparam("job_id"))
)


@dataclass(frozen=True)
class Plan:
    """What the queue writes for a job it takes, and what then runs it: the attempt to open and
    the work given that attempt's id, or the failure that ends a job that cannot run."""

    job_id: str
    opening: Opening | None = None
    work: Callable[[str], Work] | None = None
    failure: Change | None = None


async def plan_requested(db: AsyncSession, ctx: JobContext, job_id: str) -> Plan:
    """Decide where a job asked for on this node runs: through a peer when its asset has any,
    else here. Reads only: the queue writes every plan of a take at the end of its transaction
    (on SQLite, the write lock is then held for the writes alone)."""
    job = (await db.execute(_REQUESTED, {"job_id": job_id})).one()
    asset_id = job.asset_id
    if asset_id is None:
        return Plan(job_id, failure=states.failure(job_id, None, "asset_gone", ASSET_GONE))
    try:
        dialing = await plan_dial(db, ctx.keyring, ctx.rng, job.tenant_id, asset_id, Purpose.JOBS)
    except Unavailable as exc:
        return Plan(job_id, failure=states.failure(job_id, None, exc.code, exc.message))
    candidates = dialing.candidates
    spec = JobSpec.from_job(job.Job, job.pinned)
    credential = dialing.credential
    pinned = job.pinned is not None

    if candidates:

        def through_peer(attempt: str) -> Work:
            async def work() -> None:
                result = await delegate(ctx, job_id, attempt, spec, credential, candidates)
                await _pin(ctx, asset_id, pinned, result)

            return work

        return Plan(job_id, begin_delegation(job_id, candidates[0]), through_peer)
    sig = ctx.signature(job.tenant, job.site)
    scope = AuditScope(job.tenant, job.site, job.Job.requested_by, "")

    def here(attempt: str) -> Work:
        async def work() -> None:
            result = await run_here(ctx, job_id, attempt, spec, credential, sig, scope)
            await _pin(ctx, asset_id, pinned, result)

        return work

    return Plan(job_id, begin_here(job_id), here)


async def _pin(ctx: JobContext, asset_id: str, pinned: bool, result: TaskResult | None) -> None:
    """Pin the host key the job's first contact saw (trust on first use)."""
    if result is not None and result.host_key and not pinned:
        async with ctx.database.begin() as db:
            await pin_first_key(db, asset_id, result.host_key)
