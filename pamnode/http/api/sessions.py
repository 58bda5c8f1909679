"""REST routes of Access (open a session), RDP pass-through and Reports > Sessions."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import FileResponse
from pydantic import AwareDatetime

from pamnode.app.node import Node
from pamnode.http.deps import DB, Caller, NodeDep
from pamnode.http.downloads import archive_response, recording_response
from pamnode.http.paging import Limit, Offset
from pamnode.identity.principal import Principal
from pamnode.listeners.rdp_port import open_rdp_proxy
from pamnode.proxy.rdp import RdpOffer
from pamnode.sessions import export as session_exports
from pamnode.sessions import report, search
from pamnode.sessions.opening import open_session
from pamnode.sessions.schemas import (
    OpenedSessionOut,
    RdpProxyOut,
    SearchHitOut,
    SearchPageOut,
    SessionDetailsOut,
    SessionOut,
    SessionPageOut,
)

router = APIRouter(tags=["sessions"])


def hit_out(hit: search.Hit) -> SearchHitOut:
    session = hit.session
    return SearchHitOut(
        session_id=session.id,
        asset_id=session.asset_id,
        asset_name=session.asset_name,
        requested_by=session.requested_by,
        channel=session.channel,
        peer_node=session.peer_node,
        created_at=session.created_at,
        kind=hit.kind,
        offset_s=hit.offset_s,
        snippet=hit.snippet,
    )


def tunnel_path(request: Request, session_id: str) -> str:
    tenant, site = request.path_params["tenant"], request.path_params["site"]
    return f"/ztna/{tenant}/{site}/sessions/{session_id}/tunnel"


@router.post("/assets/{asset_id}/sessions", status_code=status.HTTP_201_CREATED)
async def open_asset_session(
    asset_id: str, request: Request, caller: Caller, db: DB
) -> OpenedSessionOut:
    """Access: a session to attach a tunnel to (as the same user) within the next minutes."""
    session = await open_session(db, caller, asset_id)
    opened = SessionOut.model_validate(session).model_dump()
    return OpenedSessionOut(**opened, tunnel=tunnel_path(request, session.id))


async def offer_rdp_pass_through(
    request: Request, caller: Principal, node: Node, asset_id: str
) -> RdpOffer:
    """The one-time port, listening where the settings say and named in the .rdp file as
    configured, else by the host name this request came to (the API's and the console's)."""
    settings = node.settings
    return await open_rdp_proxy(
        node.proxy,
        caller,
        asset_id,
        settings.rdp_proxy_host or settings.host,
        settings.rdp_proxy_advertised or request.url.hostname or settings.host,
    )


@router.post("/assets/{asset_id}/rdp-proxy", status_code=status.HTTP_201_CREATED)
async def open_rdp_pass_through(
    asset_id: str, request: Request, caller: Caller, node: NodeDep
) -> RdpProxyOut:
    """RDP pass-through: a one-time port on this node that carries one RDP client's stream to
    the asset (through its peer's HTTP proxy when it has one); the client logs in itself."""
    offer = await offer_rdp_pass_through(request, caller, node, asset_id)
    return RdpProxyOut(
        session_id=offer.session_id,
        host=offer.host,
        port=offer.port,
        expires_in_s=offer.expires_in_s,
        rdp_file=offer.rdp_file,
    )


@router.get("/sessions")
async def list_sessions(
    caller: Caller,
    db: DB,
    asset_id: str | None = None,
    state: str | None = None,
    node: str | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SessionPageOut:
    where = report.SessionFilter(asset_id, state, node, since, until)
    found = await report.list_sessions(db, caller, where, limit, offset)
    return SessionPageOut(
        total=found.total, sessions=[SessionOut.model_validate(s) for s in found.rows]
    )


@router.get("/sessions/search")
async def search_sessions(
    caller: Caller,
    db: DB,
    q: Annotated[str, Query(max_length=search.MAX_QUERY_CHARS)],
    asset: Annotated[str | None, Query(max_length=255)] = None,
    user: Annotated[str | None, Query(max_length=160)] = None,
    peer: Annotated[str | None, Query(max_length=128)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> SearchPageOut:
    """Search across sessions: the sessions (of those the caller may read) whose terminal
    output, exec command lines or SFTP operations hold every word and "quoted phrase" of
    `q`, newest first, each with a snippet and, for a terminal recording, the moment in
    playback. `asset` is the asset's id or the name it had."""
    where = report.SessionFilter(asset=asset, user=user, peer=peer, since=since, until=until)
    found = await search.search_sessions(db, caller, q, where, limit, offset)
    return SearchPageOut(total=found.total, hits=[hit_out(hit) for hit in found.hits])


@router.get("/sessions/{session_id}")
async def session_details(session_id: str, caller: Caller, db: DB) -> SessionDetailsOut:
    return SessionDetailsOut.model_validate(await report.get_session(db, caller, session_id))


@router.post("/sessions/{session_id}/terminate")
async def terminate_session(
    session_id: str, caller: Caller, db: DB, node: NodeDep
) -> SessionDetailsOut:
    ended = await report.terminate(db, node.remote_sessions, caller, session_id)
    return SessionDetailsOut.model_validate(ended)


@router.get("/sessions/{session_id}/export", response_class=FileResponse)
async def session_export(session_id: str, caller: Caller, db: DB, node: NodeDep) -> FileResponse:
    """The session as evidence, one tar.gz: its details, the audit rows that name it with
    their places in the hash chain, its recordings, and a manifest of their SHA-256
    (administrators and auditors)."""
    export = await session_exports.gather(db, node.remote_sessions, caller, session_id)
    return await archive_response(
        lambda sink: session_exports.write_archive(export, sink),
        f"session-{export.session_id}.tar.gz",
    )


@router.get("/sessions/{session_id}/recording", response_class=FileResponse)
async def session_recording(
    session_id: str,
    caller: Caller,
    db: DB,
    node: NodeDep,
    kind: Annotated[str, Query(max_length=16)] = "recording",
) -> FileResponse:
    """The Guacamole recording (for the player), or a text one: the SSH typescript, the
    commands of an exec, the file operations of an SFTP session."""
    path = await report.recording_file(db, node.remote_sessions, caller, session_id, kind)
    return recording_response(path, session_id, kind)
