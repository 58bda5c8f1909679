"""The peer side of the peer protocol: what a main node may ask of this node."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from pamnode.http.deps import DB, Caller, NodeDep
from pamnode.jobs import peer_side
from pamnode.jobs.wire import PeerJobIn, PeerJobStatus
from pamnode.peers import serving
from pamnode.peers.wire import PeerInfo

router = APIRouter(prefix="/peer", tags=["peer protocol"])


@router.get("/info")
async def peer_info(caller: Caller, node: NodeDep) -> PeerInfo:
    return serving.describe(node.settings.node_name, node.version, caller)


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED)
async def submit_job(body: PeerJobIn, caller: Caller, db: DB, node: NodeDep) -> PeerJobStatus:
    return PeerJobStatus.model_validate(await peer_side.accept(db, node.jobs, caller, body))


@router.get("/jobs/{job_id}")
async def job_status(
    job_id: str,
    caller: Caller,
    db: DB,
    node: NodeDep,
    wait: Annotated[float, Query(ge=0, le=60)] = 0,
    seen: Annotated[str | None, Query(max_length=16)] = None,
) -> PeerJobStatus:
    """With `seen` (the state the caller knows), wait up to `wait` s for it to change."""
    return PeerJobStatus.model_validate(
        await peer_side.status(db, node.jobs, caller, job_id, wait, seen)
    )


@router.delete("/jobs/{job_id}")
async def cancel_job(job_id: str, caller: Caller, db: DB, node: NodeDep) -> PeerJobStatus:
    return PeerJobStatus.model_validate(await peer_side.cancel(db, node.jobs, caller, job_id))
