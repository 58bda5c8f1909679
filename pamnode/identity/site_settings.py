"""A site's own settings: how many days it keeps session recordings and job output (the
retention task on every main removes what is older, app/retention.py)."""

from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import NotFound
from pamnode.identity.models import Site
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission


async def _site(db: AsyncSession, principal: Principal) -> Site:
    # Read now: the caller's own copy may be a remembered one (identity/caller_cache.py).
    site = await db.get(Site, principal.site.id, populate_existing=True)
    if site is None:
        raise NotFound(f"site '{principal.site.name}' no longer exists", code="site_not_found")
    return site


async def read_settings(db: AsyncSession, principal: Principal) -> Site:
    principal.require(Permission.SITES_READ)
    return await _site(db, principal)


async def update_settings(
    db: AsyncSession, principal: Principal, changes: dict[str, int | None]
) -> Site:
    principal.require(Permission.SITE_SETTINGS_WRITE)
    site = await _site(db, principal)
    before = {field: getattr(site, field) for field in changes}
    for field, value in changes.items():
        setattr(site, field, value)
    await db.flush()
    record(
        db,
        principal.audit_scope,
        AuditAction.SITE_SETTINGS_UPDATE,
        site.name,
        before=before,
        after=changes,
    )
    return site
