"""Walking the container tree: an asset's ancestors (nearest first) and its descendants.

Everything inherited down the tree (permissions now, peer-node assignments later) is resolved
over `lineage`, so the order "the asset itself, then its container, then that one's..." is
the one contract callers rely on.
"""

from dataclasses import dataclass

from sqlalchemy import CTE, Select, bindparam, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.models import Asset

# Deeper libraries are refused on create and move; it also bounds the recursive queries
# should a bad row ever make a loop.
MAX_DEPTH = 32


def _ancestry() -> CTE:
    up = (
        select(Asset.id, Asset.parent_id, literal(0).label("depth"))
        .where(Asset.id == bindparam("asset_id"))
        .cte("up", recursive=True)
    )
    return up.union_all(
        select(Asset.id, Asset.parent_id, up.c.depth + 1).where(
            Asset.id == up.c.parent_id, up.c.depth < MAX_DEPTH
        )
    )


# `lineage` as a query to join, built once (building it was a good part of its cost): the ids
# (`id`) of the asset and of the containers above it, with `depth` (0 for the asset itself).
# Execute with the parameter `asset_id`.
ANCESTRY = _ancestry()
_LINEAGE = select(Asset).join(ANCESTRY, Asset.id == ANCESTRY.c.id).order_by(ANCESTRY.c.depth)


async def lineage(db: AsyncSession, asset_id: str) -> list[Asset]:
    """The asset, then each container above it up to the top of the library."""
    return list((await db.scalars(_LINEAGE, {"asset_id": asset_id})).all())


@dataclass(frozen=True)
class Descendant:
    id: str
    type: str
    depth: int


async def descendants(db: AsyncSession, asset_id: str) -> list[Descendant]:
    """Everything below the asset (not the asset itself), with its depth below it."""
    down = (
        select(Asset.id, Asset.type, literal(1).label("depth"))
        .where(Asset.parent_id == asset_id)
        .cte("down", recursive=True)
    )
    down = down.union_all(
        select(Asset.id, Asset.type, down.c.depth + 1).where(
            Asset.parent_id == down.c.id, down.c.depth < MAX_DEPTH
        )
    )
    rows = (await db.execute(select(down.c.id, down.c.type, down.c.depth))).all()
    return [Descendant(id=row[0], type=row[1], depth=row[2]) for row in rows]


async def parents_above(db: AsyncSession, assets: Select[str, str | None]) -> dict[str, str | None]:
    """The parent of each asset `assets` selects (`Asset.id, Asset.parent_id`) and of every
    container above them: the map `chain` walks, read for those assets only."""
    up = assets.cte("above", recursive=True)
    # UNION, not UNION ALL: a container above many of them is read once, and a loop ends.
    up = up.union(select(Asset.id, Asset.parent_id).join(up, Asset.id == up.c.parent_id))
    return {row.id: row.parent_id for row in await db.execute(select(up.c.id, up.c.parent_id))}


def chain(parents: dict[str, str | None], asset_id: str) -> list[str]:
    """`lineage` over an in-memory parent map, for resolving many assets at once."""
    ids = [asset_id]
    parent = parents.get(asset_id)
    while parent is not None and len(ids) <= MAX_DEPTH:
        ids.append(parent)
        parent = parents.get(parent)
    return ids
