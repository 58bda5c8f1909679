"""Tenants and sites: creation from the base tenant, lookup by URL names, deletion."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from pamnode.crypto.keyring import KeyRing, KeyRingError
from pamnode.db.base import new_id
from pamnode.identity import grants, users
from pamnode.identity.models import Site, Tenant, User
from pamnode.identity.names import BASE_TENANT, ROOT_SITE, check_url_name
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission, SiteRole
from pamnode.identity.signing import key_id


async def find_tenant(db: AsyncSession, name: str) -> Tenant | None:
    return await db.scalar(select(Tenant).where(Tenant.name == name))


async def get_tenant(db: AsyncSession, name: str) -> Tenant:
    tenant = await find_tenant(db, name)
    if tenant is None:
        raise NotFound(f"there is no tenant named '{name}'", code="tenant_not_found")
    return tenant


async def find_site(db: AsyncSession, tenant: Tenant, name: str) -> Site | None:
    return await db.scalar(select(Site).where(Site.tenant_id == tenant.id, Site.name == name))


async def get_site(db: AsyncSession, tenant: Tenant, name: str) -> Site:
    site = await find_site(db, tenant, name)
    if site is None:
        raise NotFound(f"tenant '{tenant.name}' has no site named '{name}'", code="site_not_found")
    return site


def refuse_base_tenant(tenant: Tenant, what: str) -> None:
    """The base tenant only manages tenants: it holds no assets and serves no peer."""
    if tenant.name == BASE_TENANT:
        raise Forbidden(
            f"the '{BASE_TENANT}' tenant only manages tenants and cannot {what}; "
            "use a tenant created from it",
            code="base_tenant_refused",
        )


async def _add_tenant(db: AsyncSession, ring: KeyRing, name: str, issuer: str) -> Tenant:
    if await db.scalar(select(Tenant.id).where(Tenant.name == name)):
        raise Conflict(f"a tenant named '{name}' already exists", code="tenant_exists")
    tenant = Tenant(id=new_id(), name=name, issuer=issuer)
    public_pem = await ring.add_tenant(tenant.id, db)
    tenant.signing_public_key = public_pem.decode()
    tenant.signing_kid = key_id(public_pem)
    db.add(tenant)
    db.add(Site(tenant_id=tenant.id, name=ROOT_SITE))
    await db.flush()
    return tenant


async def ensure_base_tenant(db: AsyncSession, ring: KeyRing) -> Tenant:
    tenant = await find_tenant(db, BASE_TENANT)
    return tenant or await _add_tenant(db, ring, BASE_TENANT, f"pamnode:{BASE_TENANT}")


async def check_key_ring(db: AsyncSession, ring: KeyRing) -> None:
    """Refuse a key ring that is not this database's: each tenant's keys must be there and
    its signing key the one whose public half the database holds. Checked when a node opens
    an existing database, before it writes anything: a node with another key ring would
    seal secrets nobody else can open, and refuse every token. A missing key ring file is
    not refused here: the node starts, and whatever needs a key says the file is missing."""
    if not ring.store.exists():
        return
    for tenant in await db.scalars(select(Tenant).order_by(Tenant.name)):
        try:
            public = ring.public_key_pem(tenant.id)
        except KeyRingError:
            problem = f"it has no keys for tenant '{tenant.name}'"
        else:
            if key_id(public) == tenant.signing_kid:
                continue
            problem = f"its signing key for tenant '{tenant.name}' is not the database's"
        raise KeyRingError(
            f"{ring.store.where} does not belong to this database: {problem}. Every "
            "node serving one database needs the same key ring (docs/scale.md); restore this "
            "database's key ring from backup"
        )


async def init_base_admin(db: AsyncSession, login: str, password: str) -> User:
    """The base tenant's first administrator (`pamnode init`): once per node."""
    base = await get_tenant(db, BASE_TENANT)
    if await db.scalar(select(User.id).where(User.tenant_id == base.id)):
        raise Conflict(
            "this node already has an administrator; init runs only once", code="user_exists"
        )
    admin = await users.add_user(db, base, login=login, password=password)
    await grants.add_grant(db, await get_site(db, base, ROOT_SITE), admin, SiteRole.ADMINISTRATOR)
    return admin


async def create_tenant(
    db: AsyncSession,
    ring: KeyRing,
    principal: Principal,
    name: str,
    issuer: str | None,
    admin_login: str,
    admin_password: str,
) -> Tenant:
    require_base(principal)
    check_url_name("tenant", name)
    tenant = await _add_tenant(db, ring, name, issuer or f"pamnode:{name}")
    root = await get_site(db, tenant, ROOT_SITE)
    admin = await users.add_user(db, tenant, login=admin_login, password=admin_password)
    await grants.add_grant(db, root, admin, SiteRole.ADMINISTRATOR)
    record(
        db,
        principal.audit_scope,
        AuditAction.TENANT_CREATE,
        name,
        issuer=tenant.issuer,
        admin=admin_login,
    )
    return tenant


async def list_tenants(db: AsyncSession, principal: Principal) -> list[Tenant]:
    require_base(principal)
    return list((await db.scalars(select(Tenant).order_by(Tenant.name))).all())


async def delete_tenant(db: AsyncSession, principal: Principal, name: str) -> None:
    require_base(principal)
    if name == BASE_TENANT:
        raise InvalidInput("the base tenant cannot be deleted", code="base_tenant_refused")
    tenant = await get_tenant(db, name)
    await db.delete(tenant)
    record(db, principal.audit_scope, AuditAction.TENANT_DELETE, name)


def require_base(principal: Principal) -> None:
    principal.require(Permission.TENANTS_MANAGE)
    if principal.tenant.name != BASE_TENANT:
        raise Forbidden(
            f"tenants are managed from the '{BASE_TENANT}' tenant only",
            code="not_base_tenant",
        )


async def create_site(db: AsyncSession, principal: Principal, name: str) -> Site:
    principal.require(Permission.SITES_WRITE)
    check_url_name("site", name)
    tenant = principal.tenant
    if await db.scalar(select(Site.id).where(Site.tenant_id == tenant.id, Site.name == name)):
        raise Conflict(f"tenant '{tenant.name}' already has a site named '{name}'", "site_exists")
    root = await get_site(db, tenant, ROOT_SITE)
    site = Site(tenant_id=tenant.id, name=name, parent_id=root.id)
    db.add(site)
    await db.flush()
    # Whoever creates a site administers it, or nobody could manage it at first.
    await grants.add_grant(db, site, principal.user, SiteRole.ADMINISTRATOR)
    record(db, principal.audit_scope, AuditAction.SITE_CREATE, name)
    return site


async def list_sites(db: AsyncSession, principal: Principal) -> list[Site]:
    principal.require(Permission.SITES_READ)
    query = select(Site).where(Site.tenant_id == principal.tenant.id).order_by(Site.name)
    return list((await db.scalars(query)).all())
