"""Finding an asset by what a person types: its id, its name, or its path of names."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.models import Asset
from pamnode.assets.permissions import not_found
from pamnode.core.errors import InvalidInput


async def resolve_asset(db: AsyncSession, site_id: str, ref: str) -> str:
    """The id of the asset `ref` names in the site: an id, a name only one asset of the site
    has, or a path of names from the top of the library (`datacenter/web-1`). Permissions
    are the caller's to check next (an asset they may not see is "not found" there too)."""
    in_site = Asset.site_id == site_id
    if await db.scalar(select(Asset.id).where(in_site, Asset.id == ref)):
        return ref
    names = [name for name in ref.split("/") if name]
    if len(names) > 1:
        parent: str | None = None
        for name in names:
            under = Asset.parent_id.is_(None) if parent is None else Asset.parent_id == parent
            parent = await db.scalar(select(Asset.id).where(in_site, under, Asset.name == name))
            if parent is None:
                raise not_found(ref)
        assert parent is not None
        return parent
    found = list(await db.scalars(select(Asset.id).where(in_site, Asset.name == ref).limit(2)))
    if not found:
        raise not_found(ref)
    if len(found) > 1:
        raise InvalidInput(
            f"more than one asset is named '{ref[:80]}': give its path (container/name) or id",
            code="asset_name_ambiguous",
        )
    return found[0]
