"""Asset permissions: grants of a role to a user on an asset or container, inherited below it."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.models import Asset, AssetPermission
from pamnode.assets.permissions import Action, AssetRole, parse_role, require_asset
from pamnode.assets.tree import lineage
from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, NotFound
from pamnode.identity.models import User
from pamnode.identity.principal import Principal
from pamnode.identity.users import get_user


@dataclass(frozen=True)
class GrantView:
    grant: AssetPermission
    user: User
    # The container the grant is inherited from; None for a grant on the asset itself.
    inherited_from: Asset | None


async def list_grants(db: AsyncSession, principal: Principal, asset_id: str) -> list[GrantView]:
    """Grants on the asset and on every container above it, nearest first."""
    asset, _ = await require_asset(db, principal, asset_id, Action.EDIT)
    ancestry = await lineage(db, asset.id)
    by_id = {a.id: a for a in ancestry}
    rows = (
        await db.execute(
            select(AssetPermission, User)
            .join(User, User.id == AssetPermission.user_id)
            .where(AssetPermission.asset_id.in_(by_id))
        )
    ).all()
    depth = {a.id: i for i, a in enumerate(ancestry)}
    rows = sorted(rows, key=lambda row: (depth[row[0].asset_id], row[1].login))
    return [
        GrantView(grant, user, None if grant.asset_id == asset.id else by_id[grant.asset_id])
        for grant, user in rows
    ]


async def add_permission(
    db: AsyncSession,
    principal: Principal,
    asset: Asset,
    role: AssetRole,
    who: tuple[str, str],
    **held_by: str,
) -> AssetPermission:
    """Grant `role` on `asset` to one holder, `user_id=` or (directories/members.py)
    `group_id=`; `who` names it in the refusal and the audit trail: ("user", login)."""
    kind, name = who
    ((column, holder_id),) = held_by.items()
    existing = await db.scalar(
        select(AssetPermission).where(
            AssetPermission.asset_id == asset.id, getattr(AssetPermission, column) == holder_id
        )
    )
    if existing is not None:
        raise Conflict(
            f"{kind} '{name}' already holds {existing.role} on '{asset.name}': revoke that "
            "grant first to give another role",
            code="asset_grant_exists",
        )
    row = AssetPermission(
        asset_id=asset.id, role=role.value, created_by=principal.user.login, **held_by
    )
    db.add(row)
    await db.flush()
    record(
        db,
        principal.audit_scope,
        AuditAction.ASSET_PERMISSION_GRANT,
        asset.id,
        asset=asset.name,
        role=role.value,
        **{kind: name},
    )
    return row


async def grant(
    db: AsyncSession, principal: Principal, asset_id: str, login: str, role_name: str
) -> GrantView:
    asset, _ = await require_asset(db, principal, asset_id, Action.GRANT)
    role = parse_role(role_name)
    user = await get_user(db, principal.tenant, login)
    row = await add_permission(db, principal, asset, role, ("user", login), user_id=user.id)
    return GrantView(row, user, None)


async def revoke(db: AsyncSession, principal: Principal, asset_id: str, grant_id: str) -> None:
    asset, _ = await require_asset(db, principal, asset_id, Action.GRANT)
    row = await db.get(AssetPermission, grant_id)
    if row is None or row.asset_id != asset.id:
        raise NotFound(
            f"'{asset.name}' has no permission grant {grant_id[:80]} (grants inherited from a "
            "container are revoked on that container)",
            code="asset_grant_not_found",
        )
    # A directory group's grant (directories/members.py) has no user.
    user = await db.get(User, row.user_id) if row.user_id else None
    await db.delete(row)
    holder = {"user": user.login} if user else {"group": row.group_id}
    record(
        db,
        principal.audit_scope,
        AuditAction.ASSET_PERMISSION_REVOKE,
        asset.id,
        asset=asset.name,
        role=row.role,
        **holder,
    )
