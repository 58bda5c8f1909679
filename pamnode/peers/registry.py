"""Configuration > Peer Nodes of a site: create, read, change, delete, and expiry warnings."""

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt as pyjwt
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.audit.targets import allowed_destination
from pamnode.core.destinations import DestinationPolicy, TargetRefused
from pamnode.core.errors import Conflict, InvalidInput, NotFound, Unavailable
from pamnode.crypto.cipher import seal
from pamnode.crypto.keyring import KeyRing
from pamnode.crypto.sealed import SealedColumn
from pamnode.db.base import new_id, utcnow
from pamnode.identity.models import Site
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.tenants import refuse_base_tenant
from pamnode.peers.addresses import parse_component_address, parse_peer_url
from pamnode.peers.models import Component, PeerNode
from pamnode.peers.schemas import PeerNodeIn, PeerNodePatch

# Certificates and tokens that run out within this window are flagged in the peer list.
EXPIRY_WARNING = timedelta(days=30)


def require(principal: Principal, permission: Permission) -> None:
    refuse_base_tenant(principal.tenant, "hold peer-node connections")
    principal.require(permission)


def token_context(peer_id: str) -> str:
    return f"peer-node:{peer_id}:access-token"


def _peers_of_tenant(query: Select[Any], tenant_id: str) -> Select[Any]:
    return query.join(Site, Site.id == PeerNode.site_id).where(Site.tenant_id == tenant_id)


PEER_ACCESS_TOKENS = SealedColumn(
    kind="peer-node access token",
    column=PeerNode.access_token_sealed,  # type: ignore[arg-type]
    key=(PeerNode.id,),
    context=token_context,
    of_tenant=_peers_of_tenant,
)


def _token_expiry(token: str) -> datetime | None:
    """The peer signed the token; the main can read its `exp` but not verify it."""
    try:
        claims = pyjwt.decode(token, options={"verify_signature": False})
    except pyjwt.PyJWTError:
        raise InvalidInput(
            "the access token is not a JWT: paste the token unlocked on the peer "
            "(Management > API Tokens > Show Details > Unlock Token)",
            code="invalid_access_token",
        ) from None
    exp = claims.get("exp")
    return datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None


def _apply(peer: PeerNode, ring: KeyRing, tenant_id: str, changes: dict[str, Any]) -> None:
    token = changes.pop("access_token", None)
    if "url" in changes:
        changes["url"] = parse_peer_url(changes["url"]).base
    _rebind(peer, changes, token)
    for name, value in changes.items():
        setattr(peer, name, value)
    if token:
        peer.access_token_expires_at = _token_expiry(token)
        peer.access_token_sealed = seal(ring, tenant_id, token.encode(), token_context(peer.id))
    for component in (Component.GATEWAY, Component.HTTP_PROXY):
        if getattr(peer, component.capability):
            parse_component_address(getattr(peer, component.address_field), component)


def _rebind(peer: PeerNode, changes: dict[str, Any], token: str | None) -> None:
    """The token and pins of a peer are bound to where they were entered: a component that
    moves loses its pin, and the token goes to a new URL only if it is given again with it."""
    moved = [
        component
        for component, field in (
            (Component.JOB_RUNNER, "url"),
            (Component.GATEWAY, Component.GATEWAY.address_field),
            (Component.HTTP_PROXY, Component.HTTP_PROXY.address_field),
        )
        if field in changes and changes[field] != getattr(peer, field)
    ]
    if Component.JOB_RUNNER in moved and not token and peer.access_token_sealed is not None:
        raise InvalidInput(
            "the URL changed: enter the peer's access token again", code="access_token_required"
        )
    peer.pins = [pin for pin in peer.pins if pin.component not in moved]


def _addresses(changes: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(field, host, port) of each address of a peer that `changes` sets; malformed ones are
    refused here with their own codes."""
    found = []
    if changes.get("url"):
        url = parse_peer_url(changes["url"])
        found.append(("url", url.host, url.port))
    for component in (Component.GATEWAY, Component.HTTP_PROXY):
        if changes.get(component.address_field):
            host, port = parse_component_address(changes[component.address_field], component)
            found.append((component.address_field, host, port))
    return found


async def _refuse_guarded(
    db: AsyncSession, policy: DestinationPolicy, principal: Principal, changes: dict[str, Any]
) -> None:
    """The addresses a change sets, checked against the node's destination policy before
    anything is written: the main connects there (Verify Trust, Test Connection, every job
    and session), and hands the peer's token to the URL. A refusal is audited
    (`target.refuse`) and answered 422. A name that does not resolve yet may be saved: each
    connection checks again what it resolves to then."""
    for field, host, port in _addresses(changes):
        try:
            await allowed_destination(
                policy, db, principal.audit_scope, host, port, via="peer-node", field=field
            )
        except TargetRefused as exc:
            raise InvalidInput(f"{field}: {exc.message}", code="peer_address_refused") from None
        except Unavailable:
            continue


async def _name_taken(db: AsyncSession, site_id: str, name: str, except_id: str = "") -> bool:
    query = select(PeerNode.id).where(
        PeerNode.site_id == site_id, PeerNode.name == name, PeerNode.id != except_id
    )
    return bool(await db.scalar(query))


async def create_peer(
    db: AsyncSession,
    ring: KeyRing,
    principal: Principal,
    body: PeerNodeIn,
    policy: DestinationPolicy,
) -> PeerNode:
    require(principal, Permission.PEERS_WRITE)
    fields = body.model_dump()
    if await _name_taken(db, principal.site.id, fields["name"]):
        raise Conflict(f"this site already has a peer node named '{fields['name']}'", "peer_exists")
    await _refuse_guarded(db, policy, principal, fields)
    peer = PeerNode(id=new_id(), site_id=principal.site.id, pins=[])
    _apply(peer, ring, principal.tenant.id, dict(fields))
    db.add(peer)
    await db.flush()
    record(
        db, principal.audit_scope, AuditAction.PEER_NODE_CREATE, peer.name, **_audit_fields(fields)
    )
    return peer


def _audit_fields(fields: dict[str, Any]) -> dict[str, Any]:
    # The token itself never reaches the trail, only the fact that it was set.
    shown = {k: v for k, v in fields.items() if k != "access_token"}
    if fields.get("access_token"):
        shown["access_token"] = "set"
    return shown


async def get_peer(db: AsyncSession, principal: Principal, peer_id: str) -> PeerNode:
    peer = await db.get(PeerNode, peer_id)
    if peer is None or peer.site_id != principal.site.id:
        raise NotFound(f"this site has no peer node {peer_id}", code="peer_not_found")
    return peer


async def find_peer_by_name(db: AsyncSession, principal: Principal, name: str) -> PeerNode:
    """The site's peer node with this name (or this id: what a person typed either way)."""
    named = or_(PeerNode.name == name, PeerNode.id == name)
    peer = await db.scalar(select(PeerNode).where(PeerNode.site_id == principal.site.id, named))
    if peer is None:
        raise NotFound(f"this site has no peer node named '{name}'", code="peer_not_found")
    return peer


async def read_peer(db: AsyncSession, principal: Principal, peer_id: str) -> PeerNode:
    require(principal, Permission.PEERS_READ)
    return await get_peer(db, principal, peer_id)


async def list_peers(db: AsyncSession, principal: Principal) -> list[PeerNode]:
    require(principal, Permission.PEERS_READ)
    query = select(PeerNode).where(PeerNode.site_id == principal.site.id).order_by(PeerNode.name)
    return list((await db.scalars(query)).all())


async def update_peer(
    db: AsyncSession,
    ring: KeyRing,
    principal: Principal,
    peer_id: str,
    patch: PeerNodePatch,
    policy: DestinationPolicy,
) -> PeerNode:
    require(principal, Permission.PEERS_WRITE)
    changes = patch.changes()
    peer = await get_peer(db, principal, peer_id)
    if patch.name is not None and await _name_taken(db, peer.site_id, patch.name, peer.id):
        raise Conflict(f"this site already has a peer node named '{patch.name}'", "peer_exists")
    await _refuse_guarded(db, policy, principal, changes)
    _apply(peer, ring, principal.tenant.id, dict(changes))
    await db.flush()
    record(
        db, principal.audit_scope, AuditAction.PEER_NODE_UPDATE, peer.name, **_audit_fields(changes)
    )
    return peer


async def delete_peer(db: AsyncSession, principal: Principal, peer_id: str) -> None:
    require(principal, Permission.PEERS_WRITE)
    peer = await get_peer(db, principal, peer_id)
    await db.delete(peer)
    record(db, principal.audit_scope, AuditAction.PEER_NODE_DELETE, peer.name)


def warnings(peer: PeerNode, now: datetime | None = None) -> list[str]:
    """What runs out soon: pinned certificates and the access token."""
    now = now or utcnow()
    found = []
    for pin in peer.pins:
        found.extend(_expiry_warning(f"the pinned {pin.component} certificate", pin.not_after, now))
    if peer.access_token_expires_at:
        found.extend(_expiry_warning("the access token", peer.access_token_expires_at, now))
    return found


def _expiry_warning(what: str, when: datetime, now: datetime) -> list[str]:
    if when <= now:
        return [f"{what} expired at {when.isoformat()}"]
    if when - now <= EXPIRY_WARNING:
        return [f"{what} expires in {(when - now).days} days, at {when.isoformat()}"]
    return []
