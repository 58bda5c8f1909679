"""Manage > Peer Nodes on a container or asset: add, enable/disable, remove, and the view."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.models import Asset
from pamnode.assets.permissions import Action, require_asset
from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, NotFound
from pamnode.identity.principal import Principal
from pamnode.peers.models import PeerAssignment, PeerNode
from pamnode.peers.registry import find_peer_by_name
from pamnode.peers.selection import Purpose, Reach, effective, reaches


@dataclass(frozen=True)
class AssignmentView:
    asset: Asset
    reaches: list[Reach]
    effective: dict[Purpose, list[str]]


async def view(db: AsyncSession, principal: Principal, asset_id: str) -> AssignmentView:
    asset, _ = await require_asset(db, principal, asset_id, Action.VIEW)
    found = await reaches(db, asset.id)
    by_purpose = {purpose: [p.name for p in effective(found, purpose)] for purpose in Purpose}
    return AssignmentView(asset, found, by_purpose)


async def assignable(db: AsyncSession, principal: Principal, asset_id: str) -> list[str]:
    """Names of the site's peer nodes, for whoever may assign them to this asset.

    Assigning needs only the asset permission, not the site role that lists peer nodes, so
    the choice of names ("Select the Peer Node from the list by its Name") comes from here.
    """
    await require_asset(db, principal, asset_id, Action.MANAGE_PEER_NODES)
    query = select(PeerNode.name).where(PeerNode.site_id == principal.site.id)
    return list((await db.scalars(query.order_by(PeerNode.name))).all())


async def assign(
    db: AsyncSession, principal: Principal, asset_id: str, peer_name: str, enabled: bool
) -> PeerAssignment:
    asset, _ = await require_asset(db, principal, asset_id, Action.MANAGE_PEER_NODES)
    peer = await find_peer_by_name(db, principal, peer_name)
    taken = await db.scalar(
        select(PeerAssignment.id).where(
            PeerAssignment.asset_id == asset.id, PeerAssignment.peer_node_id == peer.id
        )
    )
    if taken:
        raise Conflict(
            f"peer node '{peer.name}' is already assigned to '{asset.name}'",
            code="assignment_exists",
        )
    assignment = PeerAssignment(
        asset_id=asset.id, peer_node_id=peer.id, enabled=enabled, created_by=principal.user.login
    )
    db.add(assignment)
    await db.flush()
    record(
        db,
        principal.audit_scope,
        AuditAction.PEER_ASSIGNMENT_ADD,
        asset.name,
        peer=peer.name,
        enabled=enabled,
    )
    return assignment


async def _direct(
    db: AsyncSession, principal: Principal, asset_id: str, assignment_id: str
) -> tuple[Asset, PeerAssignment, str]:
    """The asset, its own assignment, and the assigned peer's name (for the audit trail)."""
    asset, _ = await require_asset(db, principal, asset_id, Action.MANAGE_PEER_NODES)
    assignment = await db.get(PeerAssignment, assignment_id)
    if assignment is None or assignment.asset_id != asset.id:
        raise NotFound(
            f"'{asset.name}' has no direct peer-node assignment {assignment_id}; an inherited "
            "one is changed on the container it comes from",
            code="assignment_not_found",
        )
    peer = await db.get(PeerNode, assignment.peer_node_id)
    assert peer is not None
    return asset, assignment, peer.name


async def set_enabled(
    db: AsyncSession, principal: Principal, asset_id: str, assignment_id: str, enabled: bool
) -> PeerAssignment:
    asset, assignment, peer = await _direct(db, principal, asset_id, assignment_id)
    assignment.enabled = enabled
    await db.flush()
    action = AuditAction.PEER_ASSIGNMENT_ENABLE if enabled else AuditAction.PEER_ASSIGNMENT_DISABLE
    record(db, principal.audit_scope, action, asset.name, peer=peer, assignment=assignment_id)
    return assignment


async def unassign(
    db: AsyncSession, principal: Principal, asset_id: str, assignment_id: str
) -> None:
    asset, assignment, peer = await _direct(db, principal, asset_id, assignment_id)
    await db.delete(assignment)
    record(
        db,
        principal.audit_scope,
        AuditAction.PEER_ASSIGNMENT_REMOVE,
        asset.name,
        peer=peer,
        assignment=assignment_id,
    )
