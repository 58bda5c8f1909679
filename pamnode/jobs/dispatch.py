"""Where a requested job runs: through a peer when its asset has any (the selection rule of
`pamnode.peers.selection`), else here. This module decides; `delegation` and `local` run.
"""

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
        job = await db.get(Job, job_id)
        assert job is not None
        site = await db.get(Site, job.site_id)
        asset = await db.get(Asset, job.asset_id) if job.asset_id else None
        if site is None or asset is None:
            await db.rollback()
            await states.fail(
                ctx.sessions, job_id, None, "asset_gone", "the asset no longer exists"
            )
            return
        tenant = await db.get(Tenant, site.tenant_id)
        assert tenant is not None
        try:
            secrets = await open_secrets(db, ctx.keyring, tenant.id, asset)
        except (VaultError, KeyRingError) as exc:
            await db.rollback()
            await states.fail(ctx.sessions, job_id, None, "vault_unavailable", str(exc))
            return
        pinned = await db.get(AssetHostKey, asset.id)
        peers = effective(await reaches(db, asset.id), Purpose.JOBS)
        candidates = [
            Candidate.of(ctx.keyring, tenant.id, peer) for peer in attempt_order(peers, ctx.rng)
        ]
    spec = JobSpec.from_job(job, pinned.key if pinned else None)
    credential = Credential.from_vault(secrets)
    if candidates:
        result = await delegate(ctx, job_id, spec, credential, candidates)
    else:
        sig = ctx.signature(tenant.name, site.name)
        result = await run_here(ctx, job_id, spec, credential, sig)
    if result is not None and result.host_key and pinned is None:
        async with ctx.sessions.begin() as db:
            await pin_first_key(db, asset.id, result.host_key)
