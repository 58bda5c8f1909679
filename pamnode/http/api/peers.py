"""REST routes of Configuration > Peer Nodes: translation between HTTP and the peers service."""

from fastapi import APIRouter, status

from pamnode.http.deps import DB, Caller, NodeDep
from pamnode.link import enrolment
from pamnode.link.hub import LinkHub
from pamnode.link.keys import key_fingerprint
from pamnode.link.schemas import EnrolmentCodeOut
from pamnode.peers import connection, pinning, registry
from pamnode.peers.models import Component, ConnectionMode, PeerNode
from pamnode.peers.schemas import (
    CertificateOut,
    ComponentCheckOut,
    ComponentIn,
    ConnectionOut,
    EstablishIn,
    LinkOut,
    PeerNodeIn,
    PeerNodeOut,
    PeerNodePatch,
    PinOut,
)

router = APIRouter(prefix="/peer-nodes", tags=["peer nodes"])


def link_view(peer: PeerNode, hub: LinkHub) -> LinkOut | None:
    """A dialling peer's link as this main sees it (the API's answer and the console's)."""
    if peer.connection_mode != ConnectionMode.PEER_DIALS:
        return None
    status = hub.status(peer.id)
    key = peer.link_public_key
    return LinkOut(
        enrolled=key is not None,
        enrolled_at=peer.link_enrolled_at,
        key_sha256=key_fingerprint(key) if key else None,
        connected=status is not None,
        connected_since=status.connected_since if status else None,
        last_heartbeat=status.last_heartbeat if status else None,
        round_trip_ms=status.round_trip_ms if status else None,
        peer_version=status.peer_version if status else None,
    )


def _out(peer: PeerNode, hub: LinkHub) -> PeerNodeOut:
    trust = {}
    for component in Component:
        pin = peer.pin(component)
        trust[component.value] = (
            PinOut(
                trusted=True,
                sha256=pin.sha256,
                not_after=pin.not_after,
                established_by=pin.established_by,
                established_at=pin.established_at,
            )
            if pin
            else None
        )
    return PeerNodeOut(
        id=peer.id,
        name=peer.name,
        job_runner=peer.job_runner,
        url=peer.url,
        has_access_token=peer.access_token_sealed is not None,
        access_token_expires_at=peer.access_token_expires_at,
        gateway=peer.gateway,
        gateway_address=peer.gateway_address,
        http_proxy=peer.http_proxy,
        http_proxy_address=peer.http_proxy_address,
        enabled=peer.enabled,
        connection_mode=peer.connection_mode,
        link=link_view(peer, hub),
        trust=trust,
        warnings=registry.warnings(peer),
        created_at=peer.created_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_peer(body: PeerNodeIn, caller: Caller, db: DB, node: NodeDep) -> PeerNodeOut:
    peer = await registry.create_peer(
        db, node.keyring, caller, body, node.peer_clients.destinations
    )
    return _out(peer, node.links.hub)


@router.get("")
async def list_peers(caller: Caller, db: DB, node: NodeDep) -> list[PeerNodeOut]:
    return [_out(peer, node.links.hub) for peer in await registry.list_peers(db, caller)]


@router.get("/{peer_id}")
async def read_peer(peer_id: str, caller: Caller, db: DB, node: NodeDep) -> PeerNodeOut:
    return _out(await registry.read_peer(db, caller, peer_id), node.links.hub)


@router.patch("/{peer_id}")
async def update_peer(
    peer_id: str, body: PeerNodePatch, caller: Caller, db: DB, node: NodeDep
) -> PeerNodeOut:
    peer = await enrolment.update_peer(
        db, node.keyring, caller, peer_id, body, node.peer_clients.destinations, node.links.hub
    )
    return _out(peer, node.links.hub)


@router.delete("/{peer_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_peer(peer_id: str, caller: Caller, db: DB, node: NodeDep) -> None:
    await enrolment.delete_peer(db, caller, peer_id, node.links.hub)


@router.post("/{peer_id}/enrolment-code")
async def issue_enrolment_code(
    peer_id: str, caller: Caller, db: DB, node: NodeDep
) -> EnrolmentCodeOut:
    issued = await enrolment.issue_code(db, caller, peer_id, node.links.main_sha256)
    return EnrolmentCodeOut(
        code=issued.code, expires_at=issued.expires_at, main_sha256=issued.main_sha256
    )


@router.post("/{peer_id}/revoke-link", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_link(peer_id: str, caller: Caller, db: DB, node: NodeDep) -> None:
    await enrolment.revoke(db, caller, peer_id, node.links.hub)


def _certificate(component: str, verified: pinning.VerifiedCertificate) -> CertificateOut:
    facts = verified.facts
    return CertificateOut(
        component=component,
        subject=facts.subject,
        issuer=facts.issuer,
        sans=facts.sans,
        not_before=facts.not_before,
        not_after=facts.not_after,
        sha256=facts.sha256,
        trusted=verified.trusted,
        pinned_sha256=verified.pinned_sha256,
    )


@router.post("/{peer_id}/verify-trust")
async def verify_trust(
    peer_id: str, body: ComponentIn, caller: Caller, db: DB, node: NodeDep
) -> CertificateOut:
    clients = node.peer_clients
    verified = await pinning.verify_trust(
        db, caller, peer_id, body.component, clients.destinations, clients.links
    )
    return _certificate(body.component, verified)


@router.post("/{peer_id}/establish-trust")
async def establish_trust(
    peer_id: str, body: EstablishIn, caller: Caller, db: DB, node: NodeDep
) -> CertificateOut:
    clients = node.peer_clients
    verified = await pinning.establish_trust(
        db, caller, peer_id, body.component, body.sha256, clients.destinations, clients.links
    )
    return _certificate(body.component, verified)


@router.post("/{peer_id}/test-connection")
async def test_connection(peer_id: str, caller: Caller, db: DB, node: NodeDep) -> ConnectionOut:
    report = await connection.test_connection(db, node.peer_clients, node.keyring, caller, peer_id)
    info = report.info
    return ConnectionOut(
        ok=report.ok,
        code=report.code,
        reason=report.reason,
        node=info.node if info else None,
        tenant=info.tenant if info else None,
        site=info.site if info else None,
        version=info.version if info else None,
        latency_ms=report.latency_ms,
        clock_offset_ms=report.clock_offset_ms,
        capabilities=info.capabilities.model_dump() if info else None,
        components=[
            ComponentCheckOut(
                component=check.component.value,
                address=check.address,
                ok=check.ok,
                code=check.code,
                reason=check.reason,
            )
            for check in report.components
        ],
    )
