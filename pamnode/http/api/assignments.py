"""REST routes of Manage > Peer Nodes on an asset or container."""

from typing import Annotated

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from pamnode.core.bodies import Strict
from pamnode.http.deps import DB, Caller
from pamnode.peers import assignments
from pamnode.peers.models import PeerAssignment
from pamnode.peers.selection import Purpose, unusable_because

router = APIRouter(prefix="/assets/{asset_id}/peer-nodes", tags=["peer assignments"])


class AssignIn(Strict):
    peer_node: Annotated[str, Field(min_length=1, max_length=128)]
    enabled: bool = True


class AssignmentPatch(Strict):
    enabled: bool


class SourceOut(BaseModel):
    id: str
    name: str
    type: str


class AssignmentOut(BaseModel):
    id: str
    peer_node: str
    enabled: bool
    inherited: bool
    source: SourceOut
    # Why the peer cannot serve jobs / sessions right now, or null when it can.
    jobs_unusable: str | None
    sessions_unusable: str | None


class AssignmentsOut(BaseModel):
    asset_id: str
    assignments: list[AssignmentOut]
    effective: dict[str, list[str]]


def _assignment_out(reach: assignments.Reach) -> AssignmentOut:
    return AssignmentOut(
        id=reach.assignment.id,
        peer_node=reach.peer.name,
        enabled=reach.assignment.enabled,
        inherited=reach.inherited,
        source=SourceOut(id=reach.source.id, name=reach.source.name, type=reach.source.type),
        jobs_unusable=unusable_because(reach.peer, Purpose.JOBS),
        sessions_unusable=unusable_because(reach.peer, Purpose.SESSIONS),
    )


@router.get("")
async def list_assignments(asset_id: str, caller: Caller, db: DB) -> AssignmentsOut:
    found = await assignments.view(db, caller, asset_id)
    return AssignmentsOut(
        asset_id=found.asset.id,
        assignments=[_assignment_out(reach) for reach in found.reaches],
        effective={purpose.value: names for purpose, names in found.effective.items()},
    )


class AssignedOut(BaseModel):
    id: str
    peer_node_id: str
    enabled: bool


def _assigned(assignment: PeerAssignment) -> AssignedOut:
    return AssignedOut(
        id=assignment.id, peer_node_id=assignment.peer_node_id, enabled=assignment.enabled
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def assign(asset_id: str, body: AssignIn, caller: Caller, db: DB) -> AssignedOut:
    return _assigned(await assignments.assign(db, caller, asset_id, body.peer_node, body.enabled))


@router.patch("/{assignment_id}")
async def set_enabled(
    asset_id: str, assignment_id: str, body: AssignmentPatch, caller: Caller, db: DB
) -> AssignedOut:
    changed = await assignments.set_enabled(db, caller, asset_id, assignment_id, body.enabled)
    return _assigned(changed)


@router.delete("/{assignment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unassign(asset_id: str, assignment_id: str, caller: Caller, db: DB) -> None:
    await assignments.unassign(db, caller, asset_id, assignment_id)
