"""Which peer nodes serve an asset, and in which order to try them.

The effective set is the union of the enabled assignments on the asset and on every container
above it, keeping peers that are enabled, trusted for the needed component and have the
needed capability. One of them is picked uniformly at random; if it cannot be reached the
others are tried in random order. This module is the only place that rule is written.
"""

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.models import Asset
from pamnode.assets.tree import ANCESTRY, lineage
from pamnode.peers.models import Component, PeerAssignment, PeerNode


class Purpose(StrEnum):
    JOBS = "jobs"
    SESSIONS = "sessions"
    PROXY = "proxy"


# For each purpose: the component the peer must include and be trusted for.
NEEDS = {
    Purpose.JOBS: Component.JOB_RUNNER,
    Purpose.SESSIONS: Component.GATEWAY,
    Purpose.PROXY: Component.HTTP_PROXY,
}


@dataclass(frozen=True)
class Reach:
    """One assignment as seen from an asset: where it comes from and whether it counts."""

    assignment: PeerAssignment
    peer: PeerNode
    source: Asset
    inherited: bool


async def reaches(db: AsyncSession, asset_id: str) -> list[Reach]:
    """Every assignment on the asset and its containers, nearest first."""
    chain = await lineage(db, asset_id)
    depth = {asset.id: index for index, asset in enumerate(chain)}
    rows = (
        await db.execute(
            select(PeerAssignment, PeerNode)
            .join(PeerNode, PeerNode.id == PeerAssignment.peer_node_id)
            .where(PeerAssignment.asset_id.in_(depth))
        )
    ).all()
    found = [
        Reach(assignment, peer, chain[depth[assignment.asset_id]], depth[assignment.asset_id] > 0)
        for assignment, peer in rows
    ]
    return sorted(found, key=lambda r: (depth[r.source.id], r.peer.name))


def unusable_because(peer: PeerNode, purpose: Purpose) -> str | None:
    """Why a peer cannot serve this purpose, or None when it can."""
    component = NEEDS[purpose]
    if not peer.enabled:
        return "peer node disabled"
    if not getattr(peer, component.capability):
        return f"peer node does not include the {component.value.replace('-', ' ')}"
    if peer.pin(component) is None:
        return f"trust not established ({component})"
    if peer.access_token_sealed is None:
        # Sessions need it too: the main asks the peer's API for each session's ticket.
        return "no access token"
    if purpose is not Purpose.JOBS and peer.pin(Component.JOB_RUNNER) is None:
        return "trust not established (job-runner): tickets and grants come from its API"
    return None


def effective(found: Sequence[Reach], purpose: Purpose) -> list[PeerNode]:
    """The effective set among `found` (each peer once, nearest first)."""
    return _usable(((reach.assignment.enabled, reach.peer) for reach in found), purpose)


# Built once: building it cost more than running it.
_SERVING = (
    select(PeerAssignment.enabled, PeerNode)
    .join(PeerNode, PeerNode.id == PeerAssignment.peer_node_id)
    .join(ANCESTRY, ANCESTRY.c.id == PeerAssignment.asset_id)
    .order_by(ANCESTRY.c.depth, PeerNode.name)
)


async def serving(db: AsyncSession, asset_id: str, purpose: Purpose) -> list[PeerNode]:
    """The effective set of an asset, read in one statement: `effective(reaches(...))` for
    the paths that run for every job and session."""
    rows = (await db.execute(_SERVING, {"asset_id": asset_id})).all()
    return _usable(((enabled, peer) for enabled, peer in rows), purpose)


def _usable(assigned: Iterable[tuple[bool, PeerNode]], purpose: Purpose) -> list[PeerNode]:
    peers: dict[str, PeerNode] = {}
    for enabled, peer in assigned:
        if enabled and unusable_because(peer, purpose) is None:
            peers.setdefault(peer.id, peer)
    return list(peers.values())


def attempt_order(peers: Sequence[PeerNode], rng: random.Random) -> list[PeerNode]:
    """The first is the uniformly random pick; the rest are the failover order."""
    return rng.sample(list(peers), k=len(peers))
