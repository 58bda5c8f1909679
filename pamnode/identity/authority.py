"""Who may act on whom: the one rule against privilege escalation.

A user's *rights* are, per site of the tenant, the permissions their site roles carry; a
site's administrator holds every right of that site, and the administrator of the tenant's
root site (the tenant administrator) holds every right of every site. Then:

1. Nobody grants or revokes a role whose rights they do not hold on that site.
2. Nobody acts on a user who holds a right they lack (on any site): no editing, locking or
   deleting that user, and no issuing, unlocking, changing or revoking that user's tokens.
3. Users belong to the tenant, so they are administered at the tenant's root site:
   `users.write` there, not on a child site.

Route permissions (`Principal.require`) say who may use a route at all; this module says on
whom. Every service that changes a user, a role grant or a token calls it.
"""

from collections.abc import Mapping

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.core.errors import Forbidden
from pamnode.identity.models import Site, SiteRoleGrant, User
from pamnode.identity.names import ROOT_SITE
from pamnode.identity.principal import Principal
from pamnode.identity.roles import PERMISSION_ROLES, Permission, SiteRole

EVERYTHING = frozenset(Permission)
# Site id -> the rights held there.
Rights = Mapping[str, frozenset[Permission]]


def rights_of_roles(roles: frozenset[SiteRole]) -> frozenset[Permission]:
    if SiteRole.ADMINISTRATOR in roles:
        return EVERYTHING
    return frozenset(p for p, holders in PERMISSION_ROLES.items() if roles & holders)


async def rights(
    db: AsyncSession, user: User, groups: frozenset[str] | None = None
) -> dict[str, frozenset[Permission]]:
    """The user's rights on every site of their tenant where they hold a role, itself or
    through the directory groups `groups` it is in. A directory user whose groups are not
    given (someone acted upon, not the caller) is taken to be in every group of the tenant
    that holds a grant: nobody acts on a user who might hold a right they lack."""
    holder = SiteRoleGrant.user_id == user.id
    if groups:
        holder = or_(holder, SiteRoleGrant.group_id.in_(groups))
    elif groups is None and user.directory_id is not None:
        holder = or_(holder, SiteRoleGrant.group_id.is_not(None))
    rows = (
        await db.execute(
            select(SiteRoleGrant.site_id, SiteRoleGrant.role, Site.name)
            .join(Site, Site.id == SiteRoleGrant.site_id)
            .where(Site.tenant_id == user.tenant_id, holder)
        )
    ).all()
    roles: dict[str, set[SiteRole]] = {}
    root_admin = False
    for site_id, role, site_name in rows:
        roles.setdefault(site_id, set()).add(SiteRole(role))
        root_admin |= site_name == ROOT_SITE and role == SiteRole.ADMINISTRATOR
    if root_admin:
        return {site_id: EVERYTHING for site_id in roles} | {"*": EVERYTHING}
    return {site_id: rights_of_roles(frozenset(held)) for site_id, held in roles.items()}


async def caller_rights(db: AsyncSession, principal: Principal) -> dict[str, frozenset[Permission]]:
    """The caller's rights, with those of the directory groups it is in now."""
    return await rights(db, principal.user, principal.groups)


def holds(actor: Rights, site_id: str, wanted: frozenset[Permission]) -> bool:
    return wanted <= actor.get(site_id, actor.get("*", frozenset()))


def outranks_or_equals(actor: Rights, target: Rights) -> bool:
    """Whether the actor holds, on every site, every right the target holds there."""
    if "*" in target:
        return "*" in actor
    return all(holds(actor, site_id, wanted) for site_id, wanted in target.items())


def _refuse(principal: Principal, what: str) -> Forbidden:
    return Forbidden(
        f"user '{principal.user.login}' may not {what}: nobody gives or uses rights they do "
        "not hold themselves",
        code="escalation_refused",
    )


async def require_role_held(db: AsyncSession, principal: Principal, role: SiteRole) -> None:
    """Rule 1, on the principal's site."""
    if not holds(
        await caller_rights(db, principal), principal.site.id, rights_of_roles(frozenset({role}))
    ):
        raise _refuse(principal, f"grant or revoke the {role} role on site '{principal.site.name}'")


async def require_over(db: AsyncSession, principal: Principal, target: User, what: str) -> None:
    """Rule 2: the principal holds every right `target` holds."""
    if target.id == principal.user.id:
        return
    if not outranks_or_equals(await caller_rights(db, principal), await rights(db, target)):
        raise _refuse(principal, f"{what} '{target.login}', who holds rights it lacks")


async def require_user_admin(db: AsyncSession, principal: Principal) -> None:
    """Rule 3: `users.write` on the tenant's root site."""
    root = await db.scalar(
        select(Site).where(Site.tenant_id == principal.tenant.id, Site.name == ROOT_SITE)
    )
    assert root is not None
    if not holds(await caller_rights(db, principal), root.id, frozenset({Permission.USERS_WRITE})):
        raise Forbidden(
            f"users of tenant '{principal.tenant.name}' are administered on its root site: "
            f"user '{principal.user.login}' needs the users.write permission there",
            code="permission_denied",
        )
