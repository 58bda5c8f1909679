"""Who is calling, on which tenant and site, with which roles; and the permission check."""

from dataclasses import dataclass

from pamnode.audit.service import AuditScope
from pamnode.core.errors import Forbidden
from pamnode.identity.models import Site, Tenant, User
from pamnode.identity.roles import PERMISSION_ROLES, Permission, SiteRole


@dataclass(frozen=True)
class Principal:
    user: User
    tenant: Tenant
    site: Site
    roles: frozenset[SiteRole]
    # "session" or "api-token": how the caller proved who they are.
    via: str
    source: str
    # The directory groups holding grants that a directory user is in (identity/external.py).
    groups: frozenset[str] = frozenset()
    # How a login proved it, for the sessions it opens ("password", "publickey SHA256:...",
    # "+totp" or "+recovery" after a second factor); "" for a token's caller.
    login_method: str = ""

    @property
    def audit_scope(self) -> AuditScope:
        return AuditScope(
            tenant=self.tenant.name, site=self.site.name, actor=self.user.login, source=self.source
        )

    def can(self, permission: Permission) -> bool:
        return bool(self.roles & PERMISSION_ROLES[permission])

    def require_login_session(self, what: str) -> None:
        """What lasts beyond a token (a login key, a second factor) is set up by the user
        logged in, never by an API token, whose source filter and expiry would not bind it."""
        if self.via != "session":
            raise Forbidden(
                f"{what} needs a login session of user '{self.user.login}' (the console, "
                "`pamnode login`, or POST auth/login), not an API token",
                code="login_session_required",
            )

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            needed = ", ".join(sorted(PERMISSION_ROLES[permission]))
            raise Forbidden(
                f"user '{self.user.login}' may not do this on site "
                f"'{self.tenant.name}/{self.site.name}': it needs the {permission} permission, "
                f"held by the site roles {needed}",
                code="permission_denied",
            )
