"""Where a requested job runs: through a peer when its asset has any (the selection rule of
`pamnode.peers.selection`), else here. This module decides, as the queue takes the job;
`delegation` and `local` run.
"""

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from pamnode.assets.credentials import Credential
from pamnode.assets.models import Asset, AssetHostKey
from pamnode.assets.secrets import open_secrets
from pamnode.assets.ssh import pin_first_key
from pamnode.crypto.cipher import VaultError
from pamnode.crypto.keyring import KeyRingError
from pamnode.identity.models import Site, Tenant
from pamnode.jobs import states
from pamnode.jobs.context import JobContext
from pamnode.jobs.delegation import begin_delegation, delegate
from pamnode.jobs.local import begin_here, run_here
from pamnode.jobs.models import Job
from pamnode.jobs.peer_link import Candidate
from pamnode.jobs.pool import Work
from pamnode.jobs.specs import JobSpec, TaskResult
from pamnode.peers.selection import Purpose, attempt_order, serving

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


async def claim_requested(db: AsyncSession, ctx: JobContext, job_id: str) -> Work | None:
    """Decide where a job asked for on this node runs (through a peer when its asset has any,
    else here) and open its first attempt, in the queue's transaction; the work that runs it,
    or None when it cannot run (it ended, with its reason)."""
    job = (await db.execute(_REQUESTED, {"job_id": job_id})).one()
    asset_id = job.asset_id
    if asset_id is None:
        await states.write(db, [states.failure(job_id, None, "asset_gone", ASSET_GONE)])
        return None
    try:
        secrets = await open_secrets(db, ctx.keyring, job.tenant_id, asset_id)
    except (VaultError, KeyRingError) as exc:
        await states.write(db, [states.failure(job_id, None, "vault_unavailable", str(exc))])
        return None
    peers = await serving(db, asset_id, Purpose.JOBS)
    candidates = [
        Candidate.of(ctx.keyring, job.tenant_id, peer) for peer in attempt_order(peers, ctx.rng)
    ]
    spec = JobSpec.from_job(job.Job, job.pinned)
    credential = Credential.from_vault(secrets)
    pinned = job.pinned is not None

    if candidates:
        dispatched = await begin_delegation(db, job_id, candidates[0])
        if dispatched is None:
            return None

        async def through_peer() -> None:
            result = await delegate(ctx, job_id, dispatched, spec, credential, candidates)
            await _pin(ctx, asset_id, pinned, result)

        return through_peer
    running = await begin_here(db, job_id)
    if running is None:
        return None
    sig = ctx.signature(job.tenant, job.site)

    async def here() -> None:
        result = await run_here(ctx, job_id, running, spec, credential, sig)
        await _pin(ctx, asset_id, pinned, result)

    return here


async def _pin(ctx: JobContext, asset_id: str, pinned: bool, result: TaskResult | None) -> None:
    """Pin the host key the job's first contact saw (trust on first use)."""
    if result is not None and result.host_key and not pinned:
        async with ctx.sessions.begin() as db:
            await pin_first_key(db, asset_id, result.host_key)
