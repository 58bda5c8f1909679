"""The peer side of the peer protocol: what a main node may ask of this node."""

from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from pamnode.http.deps import DB, Caller, NodeDep
from pamnode.jobs import peer_jobs
from pamnode.jobs.models import Job
from pamnode.jobs.wire import PeerJobIn, PeerJobOut
from pamnode.peers import serving


class PeerInfoOut(BaseModel):
    node: str
    tenant: str
    site: str
    version: str
    time: str
    capabilities: dict[str, bool]


router = APIRouter(prefix="/peer", tags=["peer protocol"])


@router.get("/info")
async def peer_info(caller: Caller, node: NodeDep) -> PeerInfoOut:
    return PeerInfoOut(**serving.describe(node, caller))


def _job_out(job: Job) -> PeerJobOut:
    return PeerJobOut(
        id=job.id,
        state=job.state,
        exit_status=job.exit_status,
        output=job.output,
        facts=job.facts,
        error=job.error,
        error_code=job.error_code,
        started_at=job.started_at,
        finished_at=job.finished_at,
        node_signature=job.node_signature,
        host_key=job.host_key,
    )


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED)
async def submit_job(body: PeerJobIn, caller: Caller, db: DB, node: NodeDep) -> PeerJobOut:
    return _job_out(await peer_jobs.accept(db, node, caller, body))


@router.get("/jobs/{job_id}")
async def job_status(
    job_id: str,
    caller: Caller,
    db: DB,
    node: NodeDep,
    wait: Annotated[float, Query(ge=0, le=60)] = 0,
    seen: Annotated[str | None, Query(max_length=16)] = None,
) -> PeerJobOut:
    """With `seen` (the state the caller knows), wait up to `wait` s for it to change."""
    return _job_out(await peer_jobs.status(db, node, caller, job_id, wait, seen))


@router.delete("/jobs/{job_id}")
async def cancel_job(job_id: str, caller: Caller, db: DB, node: NodeDep) -> PeerJobOut:
    return _job_out(await peer_jobs.cancel(db, node, caller, job_id))
