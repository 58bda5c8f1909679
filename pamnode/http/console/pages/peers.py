"""Configuration > Peer Nodes in the console: add/edit, Verify/Establish Trust, Test Connection."""

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pamnode.http.api.peers import link_view
from pamnode.http.console.caller import Caller
from pamnode.http.console.csrf import check_same_origin
from pamnode.http.console.forms import checked, expect_form, form_data, validated
from pamnode.http.console.render import page, redirect, site_base
from pamnode.http.deps import DB, NodeDep
from pamnode.identity.roles import Permission
from pamnode.link import enrolment
from pamnode.peers import connection, pinning, registry
from pamnode.peers.models import Component, PeerNode
from pamnode.peers.schemas import ComponentIn, EstablishIn, PeerNodeIn, PeerNodePatch

router = APIRouter(dependencies=[Depends(check_same_origin)], include_in_schema=False)

TOGGLES = ("job_runner", "gateway", "http_proxy", "enabled")
# Fields kept as typed: the addresses, and the connection mode (a select).
ADDRESSES = ("gateway_address", "http_proxy_address", "connection_mode")


def _fields(data: Mapping[str, str], *, keep_blank_token: bool) -> dict[str, Any]:
    """The peer body from the form; on edit, an empty token field keeps the stored token."""
    fields: dict[str, Any] = {
        "name": data.get("name", ""),
        "url": data.get("url", ""),
        **{address: data.get(address, "") for address in ADDRESSES},
        **{toggle: checked(data, toggle) for toggle in TOGGLES},
    }
    token = data.get("access_token", "").strip()
    if token or not keep_blank_token:
        fields["access_token"] = token or None
    return fields


def _form_peer(peer: PeerNode) -> dict[str, Any]:
    return {"id": peer.id, "has_token": peer.access_token_sealed is not None}


def _values(peer: PeerNode) -> dict[str, str]:
    values = {"name": peer.name, "url": peer.url}
    values.update({address: getattr(peer, address) for address in ADDRESSES})
    values.update({toggle: "on" if getattr(peer, toggle) else "" for toggle in TOGGLES})
    return values


@router.get("/peer-nodes", response_class=HTMLResponse)
async def peers_page(request: Request, caller: Caller, db: DB, node: NodeDep) -> Response:
    peers = await registry.list_peers(db, caller)
    rows = [(peer, registry.warnings(peer), link_view(peer, node.links.hub)) for peer in peers]
    return page(
        request, "peers/list.html", caller, title="Peer Nodes", rows=rows, components=Component
    )


@router.get("/peer-nodes/new", response_class=HTMLResponse)
async def new_peer(request: Request, caller: Caller) -> Response:
    caller.require(Permission.PEERS_WRITE)
    values = {"job_runner": "on", "enabled": "on", "connection_mode": "main_dials"}
    return page(
        request,
        "peers/edit.html",
        caller,
        title="Add peer node",
        peer=None,
        values=values,
        errors={},
    )


@router.post("/peer-nodes")
async def add_peer(request: Request, caller: Caller, db: DB, node: NodeDep) -> Response:
    data = await form_data(request)
    expect_form(request, "peers/_form.html", data, form_peer=None)
    body = validated(PeerNodeIn, _fields(data, keep_blank_token=False))
    peer = await registry.create_peer(
        db, node.keyring, caller, body, node.peer_clients.destinations
    )
    return redirect(request, f"{site_base(request)}/peer-nodes/{peer.id}")


@router.get("/peer-nodes/{peer_id}", response_class=HTMLResponse)
async def peer_page(
    request: Request, peer_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    peer = await registry.read_peer(db, caller, peer_id)
    return page(
        request,
        "peers/edit.html",
        caller,
        title=f"Peer node {peer.name}",
        peer=peer,
        form_peer=_form_peer(peer),
        values=_values(peer),
        errors={},
        warnings=registry.warnings(peer),
        components=Component,
        link=link_view(peer, node.links.hub),
    )


@router.post("/peer-nodes/{peer_id}")
async def update_peer(
    request: Request, peer_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    data = await form_data(request)
    peer = await registry.read_peer(db, caller, peer_id)
    expect_form(request, "peers/_form.html", data, form_peer=_form_peer(peer))
    body = validated(PeerNodePatch, _fields(data, keep_blank_token=True))
    await enrolment.update_peer(
        db, node.keyring, caller, peer_id, body, node.peer_clients.destinations, node.links.hub
    )
    return redirect(request, f"{site_base(request)}/peer-nodes/{peer_id}")


@router.post("/peer-nodes/{peer_id}/delete")
async def delete_peer(
    request: Request, peer_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    await enrolment.delete_peer(db, caller, peer_id, node.links.hub)
    return redirect(request, f"{site_base(request)}/peer-nodes")


@router.post("/peer-nodes/{peer_id}/enrolment-code", response_class=HTMLResponse)
async def enrolment_code(
    request: Request, peer_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    issued = await enrolment.issue_code(db, caller, peer_id, node.links.main_sha256)
    peer = await registry.read_peer(db, caller, peer_id)
    return page(request, "peers/_enrolment_code.html", caller, issued=issued, name=peer.name)


@router.post("/peer-nodes/{peer_id}/revoke-link")
async def revoke_link(
    request: Request, peer_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    await enrolment.revoke(db, caller, peer_id, node.links.hub)
    return redirect(request, f"{site_base(request)}/peer-nodes/{peer_id}")


def _trust_dialog(
    request: Request, caller: Caller, peer_id: str, component: str, verified: Any
) -> Response:
    return page(
        request,
        "peers/_trust.html",
        caller,
        peer_id=peer_id,
        component=component,
        label=Component(component).label,
        verified=verified,
    )


@router.post("/peer-nodes/{peer_id}/verify-trust", response_class=HTMLResponse)
async def verify_trust(
    request: Request, peer_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    body = validated(ComponentIn, await form_data(request))
    clients = node.peer_clients
    verified = await pinning.verify_trust(
        db, caller, peer_id, body.component, clients.destinations, clients.links
    )
    return _trust_dialog(request, caller, peer_id, body.component, verified)


@router.post("/peer-nodes/{peer_id}/establish-trust", response_class=HTMLResponse)
async def establish_trust(
    request: Request, peer_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    body = validated(EstablishIn, await form_data(request))
    clients = node.peer_clients
    verified = await pinning.establish_trust(
        db, caller, peer_id, body.component, body.sha256, clients.destinations, clients.links
    )
    return _trust_dialog(request, caller, peer_id, body.component, verified)


@router.post("/peer-nodes/{peer_id}/test-connection", response_class=HTMLResponse)
async def test_connection(
    request: Request, peer_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    report = await connection.test_connection(db, node.peer_clients, node.keyring, caller, peer_id)
    return page(request, "peers/_connection.html", caller, report=report)
