"""Verify Trust and Establish Trust: show a peer component's certificate, then pin it."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.destinations import DestinationPolicy
from pamnode.core.errors import Conflict, InvalidInput, PeerFailure
from pamnode.db.base import utcnow
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.peers.addresses import parse_component_address, parse_peer_url
from pamnode.peers.connection import link_of
from pamnode.peers.links import API, Links, opener
from pamnode.peers.models import Component, PeerNode, PeerPin
from pamnode.peers.registry import get_peer, require
from pamnode.peers.trust import CertificateFacts, describe, fetch_leaf


def _component_address(peer: PeerNode, component: str) -> tuple[str, int]:
    if component == Component.JOB_RUNNER:
        url = parse_peer_url(peer.url)
        return url.host, url.port
    kind = Component(component)
    if not getattr(peer, kind.capability) or not getattr(peer, kind.address_field):
        raise InvalidInput(
            f"peer node '{peer.name}' has no {kind.value.replace('-', ' ')} to verify",
            code=f"no_{kind.capability}_configured",
        )
    return parse_component_address(getattr(peer, kind.address_field), kind)


@dataclass(frozen=True)
class VerifiedCertificate:
    facts: CertificateFacts
    trusted: bool
    pinned_sha256: str | None


async def _presented(
    peer: PeerNode, component: str, policy: DestinationPolicy, links: Links
) -> CertificateFacts:
    host, port = _component_address(peer, component)
    link = link_of(peer)
    # A peer that dials shows its certificate through its link: the main has no way in.
    listener = API if component == Component.JOB_RUNNER else component
    via = None if link is None else opener(links, link, listener)
    try:
        return describe(await fetch_leaf(host, port, via or policy))
    except PeerFailure as exc:
        raise InvalidInput(exc.message, code=exc.code) from exc


async def verify_trust(
    db: AsyncSession,
    principal: Principal,
    peer_id: str,
    component: str,
    policy: DestinationPolicy,
    links: Links,
) -> VerifiedCertificate:
    require(principal, Permission.PEERS_WRITE)
    peer = await get_peer(db, principal, peer_id)
    facts = await _presented(peer, component, policy, links)
    pin = peer.pin(component)
    record(
        db,
        principal.audit_scope,
        AuditAction.PEER_NODE_VERIFY_TRUST,
        peer.name,
        sha256=facts.sha256,
    )
    return VerifiedCertificate(
        facts, pin is not None and pin.sha256 == facts.sha256, pin.sha256 if pin else None
    )


async def establish_trust(
    db: AsyncSession,
    principal: Principal,
    peer_id: str,
    component: str,
    sha256: str,
    policy: DestinationPolicy,
    links: Links,
) -> VerifiedCertificate:
    require(principal, Permission.PEERS_WRITE)
    peer = await get_peer(db, principal, peer_id)
    facts = await _presented(peer, component, policy, links)
    shown = sha256.replace(":", "").upper()
    if shown != facts.sha256:
        raise Conflict(
            f"the peer now presents SHA-256 {facts.sha256}, not the {shown} you confirmed: "
            "verify trust again and check the new certificate",
            code="certificate_changed",
        )
    pin = peer.pin(component)
    if pin is None:
        pin = PeerPin(peer_node_id=peer.id, component=component)
        peer.pins.append(pin)
    pin.sha256, pin.certificate_pem, pin.not_after = facts.sha256, facts.pem, facts.not_after
    pin.established_by, pin.established_at = principal.user.login, utcnow()
    await db.flush()
    record(
        db,
        principal.audit_scope,
        AuditAction.PEER_NODE_ESTABLISH_TRUST,
        peer.name,
        component=component,
        sha256=facts.sha256,
    )
    return VerifiedCertificate(facts, True, facts.sha256)
