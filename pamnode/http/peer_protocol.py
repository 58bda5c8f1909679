"""The peer side of the peer protocol: what a main node may ask of this node."""

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import FileResponse

from pamnode.http.deps import DB, Caller, NodeDep
from pamnode.http.downloads import recording_response
from pamnode.jobs import peer_side
from pamnode.jobs.wire import (
    FEED_MAX,
    PeerJobBatchIn,
    PeerJobBatchOut,
    PeerJobCancelIn,
    PeerJobFeed,
    PeerJobIn,
    PeerJobStatus,
)
from pamnode.peers import serving
from pamnode.peers.wire import PeerInfo
from pamnode.proxy import peer_side as proxy_side
from pamnode.proxy.wire import ProxyGrantIn, ProxyGrantOut
from pamnode.sessions import peer_side as session_side
from pamnode.sessions.wire import PeerSessionIn, PeerSessionTicket, PeerWatchIn

router = APIRouter(prefix="/peer", tags=["peer protocol"])


@router.get("/info")
async def peer_info(caller: Caller, node: NodeDep) -> PeerInfo:
    gateway = node.remote_sessions.gateway_address is not None
    proxy = node.proxy.address is not None
    return serving.describe(node.settings.node_name, node.version, gateway, proxy, caller)


@router.post("/jobs/batch", status_code=status.HTTP_202_ACCEPTED)
async def submit_jobs(
    body: PeerJobBatchIn, caller: Caller, db: DB, node: NodeDep
) -> PeerJobBatchOut:
    jobs = await peer_side.accept(db, node.jobs, caller, body.jobs)
    return PeerJobBatchOut(jobs=[PeerJobStatus.model_validate(job) for job in jobs])


@router.get("/jobs/feed")
async def job_feed(
    caller: Caller,
    db: DB,
    node: NodeDep,
    after: Annotated[str, Query(min_length=1, max_length=80)],
    wait: Annotated[float, Query(ge=0, le=60)] = 0,
    limit: Annotated[int, Query(ge=1, le=FEED_MAX)] = 100,
) -> PeerJobFeed:
    """The caller's jobs changed after the cursor `after` (or `now`); see pamnode.jobs.wire."""
    return await peer_side.feed(db, node.jobs, caller, after, wait, limit)


@router.post("/jobs/cancel")
async def cancel_jobs(
    body: PeerJobCancelIn, caller: Caller, db: DB, node: NodeDep
) -> PeerJobBatchOut:
    jobs = await peer_side.cancel(db, node.jobs, caller, body.ids)
    return PeerJobBatchOut(jobs=[PeerJobStatus.model_validate(job) for job in jobs])


@router.post("/jobs", status_code=status.HTTP_202_ACCEPTED)
async def submit_job(body: PeerJobIn, caller: Caller, db: DB, node: NodeDep) -> PeerJobStatus:
    (job,) = await peer_side.accept(db, node.jobs, caller, [body])
    return PeerJobStatus.model_validate(job)


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
    (job,) = await peer_side.cancel(db, node.jobs, caller, [job_id])
    return PeerJobStatus.model_validate(job)


@router.post("/sessions", status_code=status.HTTP_201_CREATED)
async def grant_session(
    body: PeerSessionIn, caller: Caller, db: DB, node: NodeDep
) -> PeerSessionTicket:
    return await session_side.grant(db, node.remote_sessions, caller, body)


@router.post("/sessions/{session_id}/watch", status_code=status.HTTP_201_CREATED)
async def watch_session(
    session_id: str, body: PeerWatchIn, caller: Caller, db: DB, node: NodeDep
) -> PeerSessionTicket:
    return await session_side.watch(db, node.remote_sessions, caller, session_id, body)


@router.get("/sessions/{session_id}/recording", response_class=FileResponse)
async def session_recording(
    session_id: str,
    caller: Caller,
    db: DB,
    node: NodeDep,
    kind: Annotated[str, Query(max_length=16)] = "recording",
) -> FileResponse:
    path = await session_side.recording(db, node.remote_sessions, caller, session_id, kind)
    return recording_response(path, session_id, kind)


@router.post("/proxy-grants", status_code=status.HTTP_201_CREATED)
async def grant_proxy_tunnel(
    body: ProxyGrantIn, caller: Caller, db: DB, node: NodeDep
) -> ProxyGrantOut:
    return await proxy_side.grant(db, node.proxy, caller, body)
