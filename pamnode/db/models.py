"""Every area's tables, imported in one place so Alembic sees the whole schema."""

from pamnode.audit.models import AuditEvent
from pamnode.db.base import Base
from pamnode.identity.models import ApiToken, LoginSession, Site, SiteRoleGrant, Tenant, User

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "LoginSession",
    "Site",
    "SiteRoleGrant",
    "Tenant",
    "User",
]
