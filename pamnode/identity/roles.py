"""Site roles and the permissions each one carries.

Every route names one permission; this table is the only place that says which roles hold it.
"""

from enum import StrEnum


class SiteRole(StrEnum):
    ADMINISTRATOR = "administrator"
    AUDITOR = "auditor"
    SERVICE = "service"
    SITE_MANAGER = "site-manager"
    CONFIGURATION_MANAGER = "configuration-manager"
    DIRECTORY_MANAGER = "directory-manager"
    ASSET_MANAGER = "asset-manager"
    PERMISSION_MANAGER = "permission-manager"
    API_TOKEN_MANAGER = "api-token-manager"


class Permission(StrEnum):
    TENANTS_MANAGE = "tenants.manage"
    SITES_READ = "sites.read"
    SITES_WRITE = "sites.write"
    USERS_READ = "users.read"
    USERS_WRITE = "users.write"
    ROLES_READ = "roles.read"
    ROLES_WRITE = "roles.write"
    API_TOKENS_READ = "api-tokens.read"
    API_TOKENS_WRITE = "api-tokens.write"
    AUDIT_READ = "audit.read"
    PEER_SERVE = "peer.serve"
    PEERS_READ = "peers.read"
    PEERS_WRITE = "peers.write"
    SCRIPTS_READ = "scripts.read"
    SCRIPTS_WRITE = "scripts.write"
    JOBS_READ = "jobs.read"
    SESSIONS_READ = "sessions.read"
    SESSIONS_TERMINATE = "sessions.terminate"
    # Site-wide reach over the asset library, on top of per-asset permissions.
    ASSETS_MANAGE_ALL = "assets.manage-all"
    ASSETS_VIEW_ALL = "assets.view-all"
    VAULT_MANAGE = "vault.manage"
    # How long the site keeps evidence (recordings, job output): who shortens it removes it.
    SITE_SETTINGS_WRITE = "site-settings.write"


R = SiteRole
# The auditor reads what it audits and never writes; the service role is for peer calls only.
PERMISSION_ROLES: dict[Permission, frozenset[SiteRole]] = {
    Permission.TENANTS_MANAGE: frozenset({R.ADMINISTRATOR}),
    Permission.SITES_READ: frozenset({R.ADMINISTRATOR, R.SITE_MANAGER, R.AUDITOR}),
    Permission.SITES_WRITE: frozenset({R.ADMINISTRATOR, R.SITE_MANAGER}),
    Permission.USERS_READ: frozenset(
        {R.ADMINISTRATOR, R.DIRECTORY_MANAGER, R.PERMISSION_MANAGER, R.API_TOKEN_MANAGER, R.AUDITOR}
    ),
    Permission.USERS_WRITE: frozenset({R.ADMINISTRATOR, R.DIRECTORY_MANAGER}),
    Permission.ROLES_READ: frozenset({R.ADMINISTRATOR, R.PERMISSION_MANAGER, R.AUDITOR}),
    Permission.ROLES_WRITE: frozenset({R.ADMINISTRATOR, R.PERMISSION_MANAGER}),
    Permission.API_TOKENS_READ: frozenset({R.ADMINISTRATOR, R.API_TOKEN_MANAGER, R.AUDITOR}),
    Permission.API_TOKENS_WRITE: frozenset({R.ADMINISTRATOR, R.API_TOKEN_MANAGER}),
    Permission.AUDIT_READ: frozenset({R.ADMINISTRATOR, R.AUDITOR}),
    Permission.PEER_SERVE: frozenset({R.SERVICE}),
    Permission.PEERS_READ: frozenset({R.ADMINISTRATOR, R.CONFIGURATION_MANAGER, R.AUDITOR}),
    Permission.PEERS_WRITE: frozenset({R.ADMINISTRATOR, R.CONFIGURATION_MANAGER}),
    # Every site role but the service role may see the scripts it could run.
    Permission.SCRIPTS_READ: frozenset(set(SiteRole) - {R.SERVICE}),
    Permission.SCRIPTS_WRITE: frozenset({R.ADMINISTRATOR, R.ASSET_MANAGER}),
    # The whole Jobs report; anyone sees the jobs they asked for themselves.
    Permission.JOBS_READ: frozenset({R.ADMINISTRATOR, R.ASSET_MANAGER, R.AUDITOR}),
    # Reports > Sessions follows the Jobs report; ending someone else's session is an
    # administrator's act.
    Permission.SESSIONS_READ: frozenset({R.ADMINISTRATOR, R.ASSET_MANAGER, R.AUDITOR}),
    Permission.SESSIONS_TERMINATE: frozenset({R.ADMINISTRATOR}),
    Permission.ASSETS_MANAGE_ALL: frozenset({R.ADMINISTRATOR, R.ASSET_MANAGER}),
    Permission.ASSETS_VIEW_ALL: frozenset({R.ADMINISTRATOR, R.ASSET_MANAGER, R.AUDITOR}),
    Permission.VAULT_MANAGE: frozenset({R.ADMINISTRATOR}),
    Permission.SITE_SETTINGS_WRITE: frozenset({R.ADMINISTRATOR}),
}
