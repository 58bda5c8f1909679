"""Where a requested job runs: through a peer when its asset has any (the selection rule of
`pamnode.peers.selection`), else here. This module decides; `delegation` and `local` run.
"""

from sqlalchemy import select
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
from pamnode.jobs.delegation import delegate
from pamnode.jobs.local import run_here
from pamnode.jobs.models import Job
from pamnode.jobs.peer_link import Candidate
from pamnode.jobs.specs import JobSpec
from pamnode.peers.selection import Purpose, attempt_order, effective, reaches


async def run_requested(ctx: JobContext, job_id: str) -> None:
    """Run a job asked for on this node: through a peer when the asset has any, else here."""
    async with ctx.sessions.begin() as db:
        # One statement for the job, where it was asked for and the key pinned for its host:
        # this runs for every job, and the ORM's loading was most of the main's time per job.
        job = (
            await db.execute(
                select(
                    Job,
                    Site.name.label("site"),
                    Tenant.id.label("tenant_id"),
                    Tenant.name.label("tenant"),
                    AssetHostKey.key.label("pinned"),
                )
                .options(lazyload(Job.attempts))
                .join(Site, Site.id == Job.site_id)
                .join(Tenant, Tenant.id == Site.tenant_id)
                .outerjoin(AssetHostKey, AssetHostKey.asset_id == Job.asset_id)
                .where(Job.id == job_id)
            )
        ).one()
        asset = await db.get(Asset, job.Job.asset_id) if job.Job.asset_id else None
        if asset is None:
            await db.rollback()
            gone = "the asset no longer exists"
            await states.fail(ctx.sessions, job_id, None, "asset_gone", gone)
            return
        try:
            secrets = await open_secrets(db, ctx.keyring, job.tenant_id, asset)
        except (VaultError, KeyRingError) as exc:
            await db.rollback()
            await states.fail(ctx.sessions, job_id, None, "vault_unavailable", str(exc))
            return
        peers = effective(await reaches(db, asset.id), Purpose.JOBS)
        candidates = [
            Candidate.of(ctx.keyring, job.tenant_id, peer) for peer in attempt_order(peers, ctx.rng)
        ]
    spec = JobSpec.from_job(job.Job, job.pinned)
    credential = Credential.from_vault(secrets)
    if candidates:
        result = await delegate(ctx, job_id, spec, credential, candidates)
    else:
        sig = ctx.signature(job.tenant, job.site)
        result = await run_here(ctx, job_id, spec, credential, sig)
    if result is not None and result.host_key and job.pinned is None:
        async with ctx.sessions.begin() as db:
            await pin_first_key(db, asset.id, result.host_key)
