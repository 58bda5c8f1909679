"""Every area's tables, imported in one place so Alembic sees the whole schema."""

from pamnode.assets.models import Asset, AssetPermission, AssetSecret
from pamnode.audit.models import AuditEvent
from pamnode.db.base import Base
from pamnode.identity.models import ApiToken, LoginSession, Site, SiteRoleGrant, Tenant, User

__all__ = [
    "ApiToken",
    "Asset",
    "AssetPermission",
    "AssetSecret",
    "AuditEvent",
    "Base",
    "LoginSession",
    "Site",
    "SiteRoleGrant",
    "Tenant",
    "User",
]
