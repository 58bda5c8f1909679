"""Directory users and groups brought into pamnode so that they can hold grants and tokens:
a user is found by its login with the directory's own bind (it need not have logged in yet),
a group by its common name or DN."""

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.grants import add_permission
from pamnode.assets.models import Asset, AssetPermission
from pamnode.assets.permissions import Action, require_asset
from pamnode.assets.permissions import parse_role as parse_asset_role
from pamnode.assets.tree import lineage
from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, InvalidInput, NotFound
from pamnode.crypto.keyring import KeyRing
from pamnode.directories import ldap
from pamnode.directories.models import Directory, DirectoryGroup
from pamnode.directories.registry import endpoint, get_directory, schema
from pamnode.identity.authority import require_role_held
from pamnode.identity.grants import parse_role
from pamnode.identity.models import SiteRoleGrant, User
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission, SiteRole


async def materialised(db: AsyncSession, directory: Directory, account: ldap.Account) -> User:
    """The pamnode user of this directory account (`login@directory`), created or brought up
    to date with the directory's names; it never has a password of its own."""
    login = f"{account.login}@{directory.name}"
    user = await db.scalar(
        select(User).where(User.tenant_id == directory.tenant_id, User.login == login)
    )
    if user is None:
        user = User(tenant_id=directory.tenant_id, login=login, password_hash="")
        db.add(user)
    elif user.directory_id != directory.id:
        raise Conflict(
            f"the login '{login}' belongs to a local user: rename it to bring in the "
            "directory's user",
            code="user_exists",
        )
    user.directory_id = directory.id
    user.directory_dn = account.dn
    user.first_name = account.first_name[:128]
    user.last_name = account.last_name[:128]
    user.mail = account.mail[:254]
    await db.flush()
    return user


async def add_user(
    db: AsyncSession, ring: KeyRing, principal: Principal, directory_name: str, login: str
) -> User:
    principal.require(Permission.USERS_WRITE)
    directory = await get_directory(db, principal.tenant, directory_name)
    account = await asyncio.to_thread(
        ldap.find_account, endpoint(ring, directory), schema(directory), login
    )
    if account is None:
        raise NotFound(
            f"directory '{directory.name}' has no user '{login}' under '{directory.user_base}'",
            code="directory_user_not_found",
        )
    user = await materialised(db, directory, account)
    record(db, principal.audit_scope, AuditAction.USER_CREATE, user.login, directory=directory.name)
    return user


async def _group(
    db: AsyncSession, ring: KeyRing, principal: Principal, directory_name: str, name: str
) -> tuple[Directory, DirectoryGroup]:
    """The directory's group with this common name or DN, as pamnode keeps it for grants."""
    directory = await get_directory(db, principal.tenant, directory_name)
    entry = await asyncio.to_thread(
        ldap.find_group, endpoint(ring, directory), schema(directory), name
    )
    if entry is None:
        raise NotFound(
            f"directory '{directory.name}' has no group '{name}' under '{directory.group_base}'",
            code="directory_group_not_found",
        )
    group = await db.scalar(
        select(DirectoryGroup).where(
            DirectoryGroup.directory_id == directory.id, DirectoryGroup.dn == entry.dn
        )
    )
    if group is None:
        group = DirectoryGroup(
            directory_id=directory.id, dn=entry.dn, name=entry.first("cn") or name
        )
        db.add(group)
        await db.flush()
    return directory, group


async def grant_group_role(
    db: AsyncSession,
    ring: KeyRing,
    principal: Principal,
    directory_name: str,
    group_name: str,
    role_name: str,
) -> tuple[SiteRoleGrant, DirectoryGroup]:
    principal.require(Permission.ROLES_WRITE)
    role = parse_role(role_name)
    if role == SiteRole.SERVICE:
        raise InvalidInput(
            "a directory group cannot hold the service role: a service account is one "
            "account, so grant the role to the directory user itself",
            code="group_service_role",
        )
    await require_role_held(db, principal, role)
    directory, group = await _group(db, ring, principal, directory_name, group_name)
    if await db.scalar(
        select(SiteRoleGrant.id).where(
            SiteRoleGrant.site_id == principal.site.id,
            SiteRoleGrant.group_id == group.id,
            SiteRoleGrant.role == role.value,
        )
    ):
        raise Conflict(f"group '{group.name}' already holds the {role} role", code="grant_exists")
    grant = SiteRoleGrant(site_id=principal.site.id, group_id=group.id, role=role.value)
    db.add(grant)
    await db.flush()
    record(
        db,
        principal.audit_scope,
        AuditAction.SITE_ROLE_GRANT,
        f"{group.name}@{directory.name}",
        role=role.value,
        group=group.dn,
    )
    return grant, group


async def list_group_grants(
    db: AsyncSession, principal: Principal, directory_name: str | None = None
) -> list[tuple[SiteRoleGrant, DirectoryGroup, Directory]]:
    """The site roles groups hold on this site: of one directory, or of every one."""
    principal.require(Permission.ROLES_READ)
    query = (
        select(SiteRoleGrant, DirectoryGroup, Directory)
        .join(DirectoryGroup, DirectoryGroup.id == SiteRoleGrant.group_id)
        .join(Directory, Directory.id == DirectoryGroup.directory_id)
        .where(SiteRoleGrant.site_id == principal.site.id)
        .order_by(Directory.name, DirectoryGroup.name, SiteRoleGrant.role)
    )
    if directory_name is not None:
        directory = await get_directory(db, principal.tenant, directory_name)
        query = query.where(Directory.id == directory.id)
    return [
        (grant, group, directory) for grant, group, directory in (await db.execute(query)).all()
    ]


async def grant_group_asset_role(
    db: AsyncSession,
    ring: KeyRing,
    principal: Principal,
    directory_name: str,
    group_name: str,
    asset_id: str,
    role_name: str,
) -> tuple[AssetPermission, DirectoryGroup, Asset]:
    """Manage > Permissions for a directory group: its members hold the role on the asset
    and below it (with the user's own grants there, the strongest counts)."""
    asset, _ = await require_asset(db, principal, asset_id, Action.GRANT)
    role = parse_asset_role(role_name)
    directory, group = await _group(db, ring, principal, directory_name, group_name)
    who = ("group", f"{group.name}@{directory.name}")
    row = await add_permission(db, principal, asset, role, who, group_id=group.id)
    return row, group, asset


async def list_group_asset_grants(
    db: AsyncSession, principal: Principal, directory_name: str
) -> list[tuple[AssetPermission, DirectoryGroup, Asset]]:
    """The asset permissions the directory's groups hold on this site's assets."""
    principal.require(Permission.ASSETS_VIEW_ALL)
    directory = await get_directory(db, principal.tenant, directory_name)
    query = (
        select(AssetPermission, DirectoryGroup, Asset)
        .join(DirectoryGroup, DirectoryGroup.id == AssetPermission.group_id)
        .join(Asset, Asset.id == AssetPermission.asset_id)
        .where(Asset.site_id == principal.site.id, DirectoryGroup.directory_id == directory.id)
        .order_by(DirectoryGroup.name, Asset.name)
    )
    return [(row, group, asset) for row, group, asset in (await db.execute(query)).all()]


async def list_asset_group_grants(
    db: AsyncSession, principal: Principal, asset_id: str
) -> list[tuple[AssetPermission, DirectoryGroup, Directory, Asset | None]]:
    """Groups' grants on the asset and above it, nearest first, each with the container it is
    inherited from (None on the asset itself): Manage > Permissions beside the users'."""
    asset, _ = await require_asset(db, principal, asset_id, Action.EDIT)
    ancestry = await lineage(db, asset.id)
    by_id = {a.id: a for a in ancestry}
    depth = {a.id: i for i, a in enumerate(ancestry)}
    query = (
        select(AssetPermission, DirectoryGroup, Directory)
        .join(DirectoryGroup, DirectoryGroup.id == AssetPermission.group_id)
        .join(Directory, Directory.id == DirectoryGroup.directory_id)
        .where(AssetPermission.asset_id.in_(by_id))
    )
    rows = sorted(
        (await db.execute(query)).all(), key=lambda row: (depth[row[0].asset_id], row[1].name)
    )
    return [
        (row, group, directory, None if row.asset_id == asset.id else by_id[row.asset_id])
        for row, group, directory in rows
    ]
