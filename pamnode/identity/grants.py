"""Site-role grants: which user holds which role on which site."""

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, InvalidInput, NotFound
from pamnode.identity.authority import require_role_held
from pamnode.identity.models import Site, SiteRoleGrant, User
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission, SiteRole


def parse_role(value: str) -> SiteRole:
    try:
        return SiteRole(value)
    except ValueError:
        known = ", ".join(role.value for role in SiteRole)
        raise InvalidInput(
            f"'{value[:80]}' is not a site role; the roles are: {known}", code="unknown_role"
        ) from None


async def roles_of(
    db: AsyncSession, site: Site, user: User, groups: frozenset[str] = frozenset()
) -> frozenset[SiteRole]:
    """The user's roles on the site: its own grants and those of the directory groups it
    is in (`groups`, from identity/external.py)."""
    holder = SiteRoleGrant.user_id == user.id
    if groups:
        holder = or_(holder, SiteRoleGrant.group_id.in_(groups))
    query = select(SiteRoleGrant.role).where(SiteRoleGrant.site_id == site.id, holder)
    return frozenset(SiteRole(role) for role in (await db.scalars(query)).all())


async def add_grant(db: AsyncSession, site: Site, user: User, role: SiteRole) -> SiteRoleGrant:
    if role in await roles_of(db, site, user):
        raise Conflict(f"user '{user.login}' already holds the {role} role", code="grant_exists")
    grant = SiteRoleGrant(site_id=site.id, user_id=user.id, role=role.value)
    db.add(grant)
    await db.flush()
    return grant


async def grant_role(
    db: AsyncSession, principal: Principal, user: User, role_name: str
) -> SiteRoleGrant:
    principal.require(Permission.ROLES_WRITE)
    role = parse_role(role_name)
    await require_role_held(db, principal, role)
    grant = await add_grant(db, principal.site, user, role)
    record(db, principal.audit_scope, AuditAction.SITE_ROLE_GRANT, user.login, role=role.value)
    return grant


async def list_grants(db: AsyncSession, principal: Principal) -> list[tuple[SiteRoleGrant, User]]:
    principal.require(Permission.ROLES_READ)
    query = (
        select(SiteRoleGrant, User)
        .join(User, User.id == SiteRoleGrant.user_id)
        .where(SiteRoleGrant.site_id == principal.site.id)
        .order_by(User.login, SiteRoleGrant.role)
    )
    return [(grant, user) for grant, user in (await db.execute(query)).all()]


async def revoke_grant(db: AsyncSession, principal: Principal, grant_id: str) -> None:
    principal.require(Permission.ROLES_WRITE)
    grant = await db.get(SiteRoleGrant, grant_id)
    if grant is None or grant.site_id != principal.site.id:
        raise NotFound(f"this site has no role grant {grant_id}", code="grant_not_found")
    # A directory group's grant (directories/members.py) has no user.
    user = await db.get(User, grant.user_id) if grant.user_id else None
    if user and user.id == principal.user.id and grant.role == SiteRole.ADMINISTRATOR:
        raise InvalidInput("you cannot revoke your own administrator role", code="self_revoke")
    await require_role_held(db, principal, SiteRole(grant.role))
    await db.delete(grant)
    holder = user.login if user else f"group {grant.group_id}"
    record(db, principal.audit_scope, AuditAction.SITE_ROLE_REVOKE, holder, role=grant.role)


async def set_roles(
    db: AsyncSession, principal: Principal, user: User, role_names: set[str]
) -> None:
    """Grant what `user` lacks of `role_names` and revoke the rest, each audited as on its own."""
    principal.require(Permission.ROLES_WRITE)
    wanted = {parse_role(name) for name in role_names}
    query = select(SiteRoleGrant).where(
        SiteRoleGrant.site_id == principal.site.id, SiteRoleGrant.user_id == user.id
    )
    held = {SiteRole(grant.role): grant for grant in (await db.scalars(query)).all()}
    for role in sorted(wanted - held.keys()):
        await grant_role(db, principal, user, role)
    for role in sorted(held.keys() - wanted):
        await revoke_grant(db, principal, held[role].id)
