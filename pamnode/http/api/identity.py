"""REST routes of the identity area: translation between HTTP and the identity services."""

from datetime import timedelta

from fastapi import APIRouter, Request, status

from pamnode.audit.actions import AuditAction
from pamnode.http.deps import DB, Caller, NodeDep, client_address
from pamnode.identity import api_tokens, auth, grants, site_settings, tenants, users
from pamnode.identity.models import ApiToken, SiteRoleGrant, User
from pamnode.identity.schemas import (
    ApiTokenIn,
    ApiTokenOut,
    ApiTokenPatch,
    GrantIn,
    GrantOut,
    JwtOut,
    LoginIn,
    LoginOut,
    SiteIn,
    SiteOut,
    SiteSettingsOut,
    SiteSettingsPatch,
    TenantIn,
    TenantOut,
    UserIn,
    UserOut,
    UserPatch,
)
from pamnode.sessions import owners

router = APIRouter()


@router.post("/auth/login", tags=["auth"])
async def login(
    tenant: str, site: str, body: LoginIn, request: Request, db: DB, node: NodeDep
) -> LoginOut:
    # Named before the check so that a refused login is audited under the login tried.
    request.state.actor = body.login
    request.state.audit_action = AuditAction.AUTH_LOGIN
    token, expires_at = await auth.login(
        db,
        node.database,
        node.keyring,
        tenant,
        site,
        body.login,
        body.password,
        client_address(request),
        timedelta(seconds=node.settings.session_ttl_s),
        node.login_guard,
        node.accounts,
        body.code,
    )
    return LoginOut(token=token, expires_at=expires_at)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
async def logout(request: Request, caller: Caller, db: DB) -> None:
    await auth.logout(db, caller, str(request.state.token_claims["jti"]))


@router.get("/auth/me", tags=["auth"])
async def me(caller: Caller) -> dict[str, object]:
    return {
        "login": caller.user.login,
        "tenant": caller.tenant.name,
        "site": caller.site.name,
        "roles": sorted(caller.roles),
        "via": caller.via,
    }


@router.post("/tenants", status_code=status.HTTP_201_CREATED, tags=["tenants"])
async def create_tenant(body: TenantIn, caller: Caller, db: DB, node: NodeDep) -> TenantOut:
    tenant = await tenants.create_tenant(
        db, node.keyring, caller, body.name, body.issuer, body.admin_login, body.admin_password
    )
    return TenantOut.model_validate(tenant)


@router.get("/tenants", tags=["tenants"])
async def list_tenants(caller: Caller, db: DB) -> list[TenantOut]:
    return [TenantOut.model_validate(t) for t in await tenants.list_tenants(db, caller)]


@router.delete("/tenants/{name}", status_code=status.HTTP_204_NO_CONTENT, tags=["tenants"])
async def delete_tenant(name: str, caller: Caller, db: DB) -> None:
    await tenants.delete_tenant(db, caller, name)


@router.post("/sites", status_code=status.HTTP_201_CREATED, tags=["sites"])
async def create_site(body: SiteIn, caller: Caller, db: DB) -> SiteOut:
    return SiteOut.model_validate(await tenants.create_site(db, caller, body.name))


@router.get("/sites", tags=["sites"])
async def list_sites(caller: Caller, db: DB) -> list[SiteOut]:
    return [SiteOut.model_validate(s) for s in await tenants.list_sites(db, caller)]


@router.get("/site-settings", tags=["sites"])
async def read_site_settings(caller: Caller, db: DB) -> SiteSettingsOut:
    """This site's settings: how many days it keeps recordings and job output."""
    return SiteSettingsOut.model_validate(await site_settings.read_settings(db, caller))


@router.patch("/site-settings", tags=["sites"])
async def update_site_settings(body: SiteSettingsPatch, caller: Caller, db: DB) -> SiteSettingsOut:
    """Change this site's retention (days; null keeps for ever); administrators only."""
    changes = body.model_dump(exclude_unset=True)
    site = await site_settings.update_settings(db, caller, changes)
    return SiteSettingsOut.model_validate(site)


@router.post("/users", status_code=status.HTTP_201_CREATED, tags=["users"])
async def create_user(body: UserIn, caller: Caller, db: DB) -> UserOut:
    return UserOut.model_validate(await users.create_user(db, caller, body))


@router.get("/users", tags=["users"])
async def list_users(caller: Caller, db: DB) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in await users.list_users(db, caller)]


@router.get("/users/{login}", tags=["users"])
async def read_user(login: str, caller: Caller, db: DB) -> UserOut:
    return UserOut.model_validate(await users.read_user(db, caller, login))


@router.patch("/users/{login}", tags=["users"])
async def update_user(login: str, body: UserPatch, caller: Caller, db: DB) -> UserOut:
    return UserOut.model_validate(await users.update_user(db, caller, login, body))


@router.delete("/users/{login}", status_code=status.HTTP_204_NO_CONTENT, tags=["users"])
async def delete_user(login: str, caller: Caller, db: DB, node: NodeDep) -> None:
    user_id = await users.delete_user(db, caller, login)
    await owners.end_sessions_of(db, node.remote_sessions, user_id, caller.user.login)


def _grant_out(grant: SiteRoleGrant, user: User) -> GrantOut:
    return GrantOut(id=grant.id, principal=user.login, role=grant.role, created_at=grant.created_at)


@router.post("/site-roles", status_code=status.HTTP_201_CREATED, tags=["site-roles"])
async def grant_role(body: GrantIn, caller: Caller, db: DB) -> GrantOut:
    user = await users.get_user(db, caller.tenant, body.principal)
    return _grant_out(await grants.grant_role(db, caller, user, body.role), user)


@router.get("/site-roles", tags=["site-roles"])
async def list_grants(caller: Caller, db: DB) -> list[GrantOut]:
    return [_grant_out(grant, user) for grant, user in await grants.list_grants(db, caller)]


@router.delete(
    "/site-roles/{grant_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["site-roles"]
)
async def revoke_grant(grant_id: str, caller: Caller, db: DB) -> None:
    await grants.revoke_grant(db, caller, grant_id)


def _token_out(token: ApiToken, owner: User, jwt: str | None = None) -> ApiTokenOut:
    return ApiTokenOut(
        id=token.id,
        user=owner.login,
        description=token.description,
        filter=token.filter,
        expires_at=token.expires_at,
        enabled=token.enabled,
        locked=not token.revealed,
        created_by=token.created_by,
        created_at=token.created_at,
        jwt=jwt,
    )


@router.post("/api-tokens", status_code=status.HTTP_201_CREATED, tags=["api-tokens"])
async def create_token(body: ApiTokenIn, caller: Caller, db: DB, node: NodeDep) -> ApiTokenOut:
    token, owner = await api_tokens.create_token(db, node.keyring, caller, **body.model_dump())
    return _token_out(token, owner)


@router.get("/api-tokens", tags=["api-tokens"])
async def list_tokens(caller: Caller, db: DB) -> list[ApiTokenOut]:
    return [_token_out(token, owner) for token, owner in await api_tokens.list_tokens(db, caller)]


@router.get("/api-tokens/{token_id}", tags=["api-tokens"])
async def read_token(token_id: str, caller: Caller, db: DB, node: NodeDep) -> ApiTokenOut:
    return _token_out(*await api_tokens.read_token(db, node.keyring, caller, token_id))


@router.patch("/api-tokens/{token_id}", tags=["api-tokens"])
async def update_token(token_id: str, body: ApiTokenPatch, caller: Caller, db: DB) -> ApiTokenOut:
    return _token_out(*await api_tokens.update_token(db, caller, token_id, body))


@router.post("/api-tokens/{token_id}/unlock", tags=["api-tokens"])
async def unlock_token(token_id: str, caller: Caller, db: DB, node: NodeDep) -> JwtOut:
    return JwtOut(jwt=await api_tokens.unlock_token(db, node.keyring, caller, token_id))


@router.post(
    "/api-tokens/{token_id}/lock", status_code=status.HTTP_204_NO_CONTENT, tags=["api-tokens"]
)
async def lock_token(token_id: str, caller: Caller, db: DB) -> None:
    await api_tokens.lock_token(db, caller, token_id)


@router.delete(
    "/api-tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["api-tokens"]
)
async def delete_token(token_id: str, caller: Caller, db: DB) -> None:
    await api_tokens.delete_token(db, caller, token_id)
