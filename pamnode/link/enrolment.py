"""On the main: a Peer Node that dials — its one-time enrolment code, the key the peer
presents with it, the check of each link's signed answer, and revocation.

The code is the only secret that ever crosses (once, inside the TLS the peer pinned); what
authenticates the peer afterwards is its key pair, whose private half never leaves it.
"""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import AuditScope, record
from pamnode.core.destinations import DestinationPolicy
from pamnode.core.errors import Conflict, InvalidInput, Unauthenticated
from pamnode.crypto.keyring import KeyRing
from pamnode.db.base import utcnow
from pamnode.db.commits import after_commit
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.tenants import find_site, find_tenant
from pamnode.link.hub import LinkHub
from pamnode.link.keys import key_fingerprint, valid_public_key, verify
from pamnode.link.wire import Answer, Enrolment
from pamnode.peers import registry
from pamnode.peers.models import ConnectionMode, PeerNode
from pamnode.peers.registry import get_peer, require
from pamnode.peers.schemas import PeerNodePatch

# How long an enrolment code may wait for its peer.
CODE_TTL = timedelta(minutes=30)


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime
    # The main's certificate as the peer must find it (its administrator types it there).
    main_sha256: str


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def _dialing(peer: PeerNode) -> None:
    if peer.connection_mode != ConnectionMode.PEER_DIALS:
        raise Conflict(
            f"peer node '{peer.name}' is reached by this main (connection mode main_dials): "
            "set its connection mode to peer_dials first",
            code="peer_not_dialing",
        )


async def issue_code(
    db: AsyncSession, principal: Principal, peer_id: str, main_sha256: str
) -> IssuedCode:
    """A new one-time code for the peer (the previous one, used or not, no longer counts)."""
    require(principal, Permission.PEERS_WRITE)
    peer = await get_peer(db, principal, peer_id)
    _dialing(peer)
    code = secrets.token_urlsafe(24)
    peer.link_code_sha256 = _digest(code)
    peer.link_code_expires_at = utcnow() + CODE_TTL
    peer.link_code_used_at = None
    record(
        db,
        principal.audit_scope,
        AuditAction.PEER_NODE_LINK_CODE,
        peer.name,
        expires_at=peer.link_code_expires_at.isoformat(),
    )
    return IssuedCode(code, peer.link_code_expires_at, main_sha256)


async def _site_id(db: AsyncSession, tenant: str, site: str) -> str | None:
    found_tenant = await find_tenant(db, tenant)
    found_site = await find_site(db, found_tenant, site) if found_tenant else None
    return found_site.id if found_site else None


async def enrol(
    db: AsyncSession, tenant: str, site: str, enrolment: Enrolment, source: str
) -> PeerNode:
    """The peer's key, accepted for the Peer Node whose unused, unexpired code it presents."""
    site_id = await _site_id(db, tenant, site)
    peer = None
    if site_id is not None:
        peer = await db.scalar(
            select(PeerNode).where(
                PeerNode.site_id == site_id, PeerNode.link_code_sha256 == _digest(enrolment.code)
            )
        )
    if peer is None or peer.connection_mode != ConnectionMode.PEER_DIALS:
        raise InvalidInput(
            f"the enrolment code is not one this main issued for {tenant}/{site}: "
            "copy it again from the Peer Node (Enrolment Code)",
            code="enrolment_code_invalid",
        )
    if peer.link_code_used_at is not None:
        raise Conflict(
            "the enrolment code was used already: issue a new one on the main",
            code="enrolment_code_used",
        )
    assert peer.link_code_expires_at is not None
    if peer.link_code_expires_at <= utcnow():
        raise InvalidInput(
            f"the enrolment code expired at {peer.link_code_expires_at.isoformat()}: "
            "issue a new one on the main",
            code="enrolment_code_expired",
        )
    if not valid_public_key(enrolment.public_key):
        raise InvalidInput("the peer's public key is not an Ed25519 key", code="invalid_link_key")
    peer.link_code_used_at = peer.link_enrolled_at = utcnow()
    peer.link_public_key = enrolment.public_key
    record(
        db,
        AuditScope(tenant, site, f"peer:{peer.name}", source),
        AuditAction.PEER_NODE_LINK_ENROL,
        peer.name,
        key_sha256=key_fingerprint(enrolment.public_key),
    )
    return peer


async def authenticate(
    db: AsyncSession, tenant: str, site: str, answer: Answer, challenge: bytes, main_sha256: str
) -> PeerNode:
    """The enrolled Peer Node that signed this link's challenge; Unauthenticated otherwise
    (one message for every reason: whoever asks learns nothing of the enrolments)."""
    site_id = await _site_id(db, tenant, site)
    peer = await db.get(PeerNode, answer.link_id) if site_id is not None else None
    if (
        peer is None
        or peer.site_id != site_id
        or peer.connection_mode != ConnectionMode.PEER_DIALS
        or peer.link_public_key is None
        or not peer.enabled
        or not verify(
            peer.link_public_key,
            answer.signature,
            tenant,
            site,
            answer.link_id,
            main_sha256,
            challenge,
        )
    ):
        raise Unauthenticated(
            "this main has no enrolment that accepts the link's key (revoked, disabled, or "
            "never enrolled): enrol the peer again",
            code="link_refused",
        )
    return peer


async def revoke(db: AsyncSession, principal: Principal, peer_id: str, hub: LinkHub) -> None:
    """The peer's key is forgotten and its link closed at once; it must enrol again."""
    require(principal, Permission.PEERS_WRITE)
    peer = await get_peer(db, principal, peer_id)
    if peer.link_public_key is None:
        raise Conflict(f"peer node '{peer.name}' is not enrolled", code="link_not_enrolled")
    shown = key_fingerprint(peer.link_public_key)
    peer.link_public_key = None
    peer.link_enrolled_at = None
    record(
        db, principal.audit_scope, AuditAction.PEER_NODE_LINK_REVOKE, peer.name, key_sha256=shown
    )
    close_when_committed(db, hub, peer.id, "the enrolment was revoked")


async def update_peer(
    db: AsyncSession,
    ring: KeyRing,
    principal: Principal,
    peer_id: str,
    patch: PeerNodePatch,
    policy: DestinationPolicy,
    hub: LinkHub,
) -> PeerNode:
    """The Peer Node changed (`registry.update_peer`); a peer that no longer dials, or is
    disabled, loses its link."""
    peer = await registry.update_peer(db, ring, principal, peer_id, patch, policy)
    if peer.connection_mode != ConnectionMode.PEER_DIALS or not peer.enabled:
        close_when_committed(db, hub, peer.id, "the peer node no longer dials, or is disabled")
    return peer


async def delete_peer(db: AsyncSession, principal: Principal, peer_id: str, hub: LinkHub) -> None:
    await registry.delete_peer(db, principal, peer_id)
    close_when_committed(db, hub, peer_id, "the peer node was deleted")


def close_when_committed(db: AsyncSession, hub: LinkHub, peer_id: str, reason: str) -> None:
    """Close the peer's link once the change that ends it is committed: closed before, the
    peer could link again while the old key still stood."""
    after_commit(db, lambda: hub.close(peer_id, reason))


def new_challenge() -> bytes:
    return secrets.token_bytes(32)


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode()
