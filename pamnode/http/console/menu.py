"""The console's menus: only what the caller's site roles let them open."""

from dataclasses import dataclass

from pamnode.identity.names import BASE_TENANT
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission, SiteRole


@dataclass(frozen=True)
class MenuItem:
    label: str
    path: str


@dataclass(frozen=True)
class MenuGroup:
    label: str
    items: list[MenuItem]


def menu_for(principal: Principal) -> list[MenuGroup]:
    """Only what the caller's site roles let them open; the routes refuse the rest anyway."""
    can = principal.can
    in_base = principal.tenant.name == BASE_TENANT
    in_site = not in_base
    # The service role is for peer calls; a user with no site role may still hold asset
    # permissions, so only service-only users lose the library and the Jobs report.
    service_only = principal.roles == {SiteRole.SERVICE}
    groups = [
        MenuGroup(
            "Management",
            [
                item
                for item, allowed in (
                    (MenuItem("Tenants", "tenants"), in_base and can(Permission.TENANTS_MANAGE)),
                    (MenuItem("Users", "users"), can(Permission.USERS_READ)),
                    (
                        MenuItem("Directories", "directories"),
                        in_site and can(Permission.USERS_READ),
                    ),
                    (MenuItem("Site Roles", "site-roles"), can(Permission.ROLES_READ)),
                    (MenuItem("API Tokens", "api-tokens"), can(Permission.API_TOKENS_READ)),
                    (MenuItem("Scripts", "scripts"), in_site and can(Permission.SCRIPTS_READ)),
                )
                if allowed
            ],
        ),
        MenuGroup(
            "Configuration",
            # Main Link: this site as a peer that dials its main (pamnode/link/).
            [MenuItem("Peer Nodes", "peer-nodes"), MenuItem("Main Link", "main-link")]
            if in_site and can(Permission.PEERS_READ)
            else [],
        ),
        MenuGroup(
            "Assets",
            [MenuItem("Asset library", "assets")] if in_site and not service_only else [],
        ),
        MenuGroup(
            "Reports",
            [
                item
                for item, allowed in (
                    (MenuItem("Jobs", "jobs"), in_site and not service_only),
                    (MenuItem("Sessions", "sessions"), in_site and not service_only),
                    (MenuItem("Audit", "audit"), can(Permission.AUDIT_READ)),
                )
                if allowed
            ],
        ),
    ]
    return [group for group in groups if group.items]
