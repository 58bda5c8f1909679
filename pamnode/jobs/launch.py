"""Starting requested jobs, and picking up unfinished ones after a restart."""

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.app.node import Node
from pamnode.assets.models import Asset
from pamnode.assets.secrets import open_secrets
from pamnode.crypto.cipher import VaultError
from pamnode.crypto.keyring import KeyRingError
from pamnode.db.base import utcnow
from pamnode.identity.models import Site, Tenant
from pamnode.jobs import states
from pamnode.jobs.executors.base import Credential, Target
from pamnode.jobs.models import AssetHostKey, Job
from pamnode.jobs.runner import Candidate, delegate, execute_here, follow, signature
from pamnode.jobs.specs import JobSpec, Task
from pamnode.jobs.states import JobState
from pamnode.peers.models import PeerNode
from pamnode.peers.selection import Purpose, attempt_order, effective, reaches
from pamnode.peers.service import endpoint
from pamnode.peers.trust import PeerFailure

log = logging.getLogger("pamnode.jobs")

INTERRUPTED = "interrupted by restart"


async def run_requested(node: Node, job_id: str) -> None:
    """Run a job asked for on this node: through a peer when the asset has any, else here."""
    async with node.sessions.begin() as db:
        job = await db.get(Job, job_id)
        assert job is not None
        site = await db.get(Site, job.site_id)
        asset = await db.get(Asset, job.asset_id) if job.asset_id else None
        if site is None or asset is None:
            await db.rollback()
            await states.fail(node.sessions, job_id, "asset_gone", "the asset no longer exists")
            return
        tenant = await db.get(Tenant, site.tenant_id)
        assert tenant is not None
        try:
            secrets = await open_secrets(db, node.keyring, tenant.id, asset)
        except (VaultError, KeyRingError) as exc:
            await db.rollback()
            await states.fail(node.sessions, job_id, "vault_unavailable", str(exc))
            return
        pinned = await db.get(AssetHostKey, asset.id)
        peers = effective(await reaches(db, asset.id), Purpose.JOBS)
        candidates = [
            Candidate(peer.name, endpoint(node.keyring, tenant.id, peer))
            for peer in attempt_order(peers, node.rng)
        ]
    spec = JobSpec(
        task=Task(job.task),
        target=Target(
            host=job.target["host"],
            port=job.target["port"],
            protocol=job.target["protocol"],
            known_host_key=pinned.key if pinned else None,
        ),
        timeout_s=job.timeout_s,
        script_type=job.script_type,
        script_body=job.script_body,
    )
    credential = Credential(
        username=secrets.get("username", ""),
        password=secrets.get("password"),
        private_key=secrets.get("private_key"),
        passphrase=secrets.get("passphrase"),
    )
    if candidates:
        result = await delegate(node, job_id, spec, credential, candidates)
    else:
        result = await execute_here(
            node, job_id, spec, credential, signature(node, tenant.name, site.name)
        )
    if result is not None and result.host_key and pinned is None:
        await _pin_host_key(node, asset.id, result.host_key)


async def _pin_host_key(node: Node, asset_id: str, key: str) -> None:
    async with node.sessions.begin() as db:
        if await db.get(AssetHostKey, asset_id) is None:
            db.add(AssetHostKey(asset_id=asset_id, key=key))


async def reconcile(node: Node) -> None:
    """After a restart: follow delegated jobs on their peers; end the rest as interrupted.

    A job that ran here, or came here from a main, lost its coroutine (and, for the latter,
    its credential) with the restart, so it is failed rather than run a second time.
    """
    follow_up: list[tuple[Job, Candidate, str]] = []
    async with node.sessions.begin() as db:
        unfinished = (
            await db.scalars(select(Job).where(Job.state.in_([s.value for s in states.UNFINISHED])))
        ).all()
        for job in unfinished:
            candidate = await _delegated_to(db, node, job)
            if candidate is not None and job.attempts:
                follow_up.append((job, candidate, job.attempts[-1].id))
                continue
            job.state, job.error, job.error_code = JobState.FAILED, INTERRUPTED, "interrupted"
            job.finished_at = utcnow()
            for attempt in job.attempts:
                if attempt.finished_at is None:
                    attempt.outcome, attempt.error = "interrupted", INTERRUPTED
                    attempt.finished_at = job.finished_at
    for job, candidate, attempt_id in follow_up:
        log.info("following job %s on peer %s after restart", job.id, candidate.name)
        node.jobs.submit(
            job.id,
            lambda j=job, c=candidate, a=attempt_id: follow(
                node, j.id, c, a, j.timeout_s, since=j.created_at
            ),
        )


async def _delegated_to(db: AsyncSession, node: Node, job: Job) -> Candidate | None:
    if job.origin != "local" or not job.peer_node or job.state == JobState.QUEUED:
        return None
    site = await db.get(Site, job.site_id)
    peer = await db.scalar(
        select(PeerNode).where(PeerNode.site_id == job.site_id, PeerNode.name == job.peer_node)
    )
    if site is None or peer is None:
        return None
    try:
        return Candidate(peer.name, endpoint(node.keyring, site.tenant_id, peer))
    except (PeerFailure, VaultError, KeyRingError) as exc:
        log.warning("cannot follow job %s on peer %s: %s", job.id, job.peer_node, exc)
        return None
