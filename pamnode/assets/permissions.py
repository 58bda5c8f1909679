"""Who may do what on an asset: the one place asset permissions are resolved.

A user's role on an asset is the strongest of: what their site roles give on every asset of
the site, and every grant they hold on the asset or on any container above it. Whoever
cannot even view an asset is told it does not exist (404), so its name never leaks.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.models import Asset, AssetPermission
from pamnode.assets.tree import chain, lineage, parents_above
from pamnode.core.errors import Forbidden, InvalidInput, NotFound
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.tenants import refuse_base_tenant


class AssetRole(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ASSET_MANAGER = "asset-manager"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return list(AssetRole).index(self)


class Action(StrEnum):
    VIEW = "view"
    EXECUTE = "execute"
    CONNECT = "connect"
    EDIT = "edit"
    MANAGE_PEER_NODES = "manage-peer-nodes"
    GRANT = "grant"

    @property
    def phrase(self) -> str:
        return _PHRASES[self]


_PHRASES = {
    Action.VIEW: "view",
    Action.EXECUTE: "execute jobs on",
    Action.CONNECT: "open sessions on",
    Action.EDIT: "change",
    Action.MANAGE_PEER_NODES: "manage the peer nodes of",
    Action.GRANT: "grant permissions on",
}

# The least role each action needs; every stronger role may do it too.
ACTION_ROLE: dict[Action, AssetRole] = {
    Action.VIEW: AssetRole.VIEWER,
    Action.EXECUTE: AssetRole.OPERATOR,
    Action.CONNECT: AssetRole.OPERATOR,
    Action.EDIT: AssetRole.ASSET_MANAGER,
    Action.MANAGE_PEER_NODES: AssetRole.ASSET_MANAGER,
    Action.GRANT: AssetRole.OWNER,
}


def parse_role(value: str) -> AssetRole:
    try:
        return AssetRole(value)
    except ValueError:
        known = ", ".join(role.value for role in AssetRole)
        raise InvalidInput(
            f"'{value[:80]}' is not an asset role; the roles are, weakest first: {known}",
            code="unknown_asset_role",
        ) from None


def allows(role: AssetRole | None, action: Action) -> bool:
    return role is not None and role.rank >= ACTION_ROLE[action].rank


def allowed_actions(role: AssetRole | None) -> list[Action]:
    return [action for action in Action if allows(role, action)]


def strongest(roles: Iterable[AssetRole | None]) -> AssetRole | None:
    held = [role for role in roles if role is not None]
    return max(held, key=lambda role: role.rank) if held else None


def site_wide_role(principal: Principal) -> AssetRole | None:
    """What the caller's site roles give on every asset of the site."""
    if principal.can(Permission.ASSETS_MANAGE_ALL):
        return AssetRole.OWNER
    if principal.can(Permission.ASSETS_VIEW_ALL):
        return AssetRole.VIEWER
    return None


def inherited_role(
    principal: Principal, ancestry: list[str], direct: dict[str, AssetRole]
) -> AssetRole | None:
    """The rule itself: site-wide role, or the strongest grant on the asset or above it."""
    return strongest([site_wide_role(principal), *(direct.get(i) for i in ancestry)])


def check_site(principal: Principal) -> None:
    refuse_base_tenant(principal.tenant, "hold assets")


async def effective_permission(
    db: AsyncSession, principal: Principal, asset: Asset
) -> AssetRole | None:
    if site_wide_role(principal) is AssetRole.OWNER:
        return AssetRole.OWNER
    ancestry = [a.id for a in await lineage(db, asset.id)]
    query = select(AssetPermission.asset_id, AssetPermission.role).where(
        AssetPermission.asset_id.in_(ancestry), _held_by(principal)
    )
    direct = _strongest_by_asset((await db.execute(query)).all())
    return inherited_role(principal, ancestry, direct)


def _held_by(principal: Principal) -> ColumnElement[bool]:
    """Grants to the caller, or to a directory group it is in."""
    own = AssetPermission.user_id == principal.user.id
    return or_(own, AssetPermission.group_id.in_(principal.groups)) if principal.groups else own


def _strongest_by_asset(rows: Iterable[tuple[str, str]]) -> dict[str, AssetRole]:
    """One role per asset: a user's own grant and its groups' may meet on one asset."""
    direct: dict[str, AssetRole] = {}
    for asset_id, role in rows:
        held = strongest([direct.get(asset_id), AssetRole(role)])
        assert held is not None
        direct[asset_id] = held
    return direct


@dataclass(frozen=True)
class Roles:
    """The caller's roles over a set of assets (`roles_over`)."""

    principal: Principal
    direct: dict[str, AssetRole]
    # The parent of each of the assets and of every container above them.
    parents: dict[str, str | None]

    def of(self, asset_id: str) -> AssetRole | None:
        """The caller's role on one of the assets; None: it may not view it."""
        return inherited_role(self.principal, chain(self.parents, asset_id), self.direct)


async def roles_over(
    db: AsyncSession, principal: Principal, assets: Select[str, str | None]
) -> Roles:
    """The caller's roles on the assets `assets` selects (`Asset.id, Asset.parent_id`, of its
    site): its grants in the site, then the containers above those assets only if it holds any
    (a query of the whole library would grow with it); nothing at all for a site-wide owner,
    since no grant is stronger."""
    check_site(principal)
    if site_wide_role(principal) is AssetRole.OWNER:
        return Roles(principal, {}, {})
    grants = select(AssetPermission.asset_id, AssetPermission.role).join(
        Asset, Asset.id == AssetPermission.asset_id
    )
    grants = grants.where(Asset.site_id == principal.site.id, _held_by(principal))
    direct = _strongest_by_asset((await db.execute(grants)).all())
    return Roles(principal, direct, await parents_above(db, assets) if direct else {})


def not_found(asset_id: str) -> NotFound:
    return NotFound(f"this site has no asset {asset_id[:80]}", code="asset_not_found")


async def require_asset(
    db: AsyncSession, principal: Principal, asset_id: str, action: Action
) -> tuple[Asset, AssetRole]:
    """The asset and the caller's role on it, if that role allows `action`."""
    check_site(principal)
    asset = await db.get(Asset, asset_id)
    if asset is None or asset.site_id != principal.site.id:
        raise not_found(asset_id)
    role = await effective_permission(db, principal, asset)
    if role is None:
        raise not_found(asset_id)
    if not allows(role, action):
        needed = ACTION_ROLE[action]
        raise Forbidden(
            f"user '{principal.user.login}' is {role} on {asset.type} '{asset.name}' and may "
            f"not {action.phrase} it: that needs the {needed} asset permission or higher",
            code="asset_permission_denied",
        )
    return asset, role
