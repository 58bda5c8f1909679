"""Console pages: login, Management > Users (add, edit, delete, reset a second factor), Site
Roles, API Tokens, and Reports > Audit."""

import re
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import EventFilter, page_events
from pamnode.directories import members
from pamnode.http.console.caller import Caller
from pamnode.http.console.csrf import check_same_origin
from pamnode.http.console.forms import checked, expect_form, form_data, validated
from pamnode.http.console.render import Pages, page, redirect, site_base
from pamnode.http.deps import DB, SESSION_COOKIE, NodeDep, client_address
from pamnode.http.paging import Offset
from pamnode.identity import api_tokens, auth, grants, second_factor, users
from pamnode.identity.models import User
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission, SiteRole
from pamnode.identity.schemas import ApiTokenIn, ApiTokenPatch, GrantIn, LoginIn, UserIn, UserPatch
from pamnode.sessions import owners

router = APIRouter(dependencies=[Depends(check_same_origin)], include_in_schema=False)

ROLE_CHOICES = [(role.value, role.value) for role in SiteRole]


def _next_page(request: Request, wanted: str) -> str:
    """Only a page of this site: a login link must not send anyone elsewhere."""
    base = site_base(request)
    return wanted if wanted.startswith(base + "/") and "//" not in wanted else base + "/"


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "") -> Response:
    # Shown for any tenant in the URL: an unknown one is refused at the password, unnamed.
    return page(request, "login.html", None, title="Log in", values={}, errors={}, next=next)


@router.post("/login")
async def login(request: Request, tenant: str, site: str, db: DB, node: NodeDep) -> Response:
    data = await form_data(request)
    # Named before the check so that a refused login is audited under the login tried.
    request.state.actor = data.get("login", "")[:128]
    request.state.audit_action = AuditAction.AUTH_LOGIN
    expect_form(request, "_login_form.html", data, auth_errors=True, next=data.get("next", ""))
    body = validated(
        LoginIn,
        {
            "login": data.get("login"),
            "password": data.get("password"),
            # Left empty by whoever has no second factor to give.
            "code": data.get("code") or None,
        },
    )
    ttl = node.settings.session_ttl_s
    token, _ = await auth.login(
        db,
        node.database,
        node.keyring,
        tenant,
        site,
        body.login,
        body.password,
        client_address(request),
        timedelta(seconds=ttl),
        node.login_guard,
        node.accounts,
        body.code,
    )
    response = redirect(request, _next_page(request, data.get("next", "")))
    # HttpOnly: no script reads it; Secure: HTTPS only; Strict: never sent cross-site.
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ttl,
        path=site_base(request),
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout")
async def logout(request: Request, caller: Caller, db: DB) -> Response:
    await auth.logout(db, caller, str(request.state.token_claims["jti"]))
    response = redirect(request, f"{site_base(request)}/login")
    response.delete_cookie(
        SESSION_COOKIE, path=site_base(request), secure=True, httponly=True, samesite="strict"
    )
    return response


# --- Management > Users ----------------------------------------------------------------------


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, caller: Caller, db: DB) -> Response:
    found = await users.list_users(db, caller)
    with_factor = await second_factor.enrolled(db, caller.tenant)
    return page(
        request, "identity/users.html", caller, title="Users", users=found, with_factor=with_factor
    )


@router.get("/users/new", response_class=HTMLResponse)
async def user_form(request: Request, caller: Caller) -> Response:
    caller.require(Permission.USERS_WRITE)
    return page(request, "identity/_user_form.html", caller, values={}, errors={})


@router.post("/users")
async def add_user(request: Request, caller: Caller, db: DB) -> Response:
    data = await form_data(request)
    expect_form(request, "identity/_user_form.html", data)
    fields = ("login", "first_name", "last_name", "mail", "password")
    body = validated(UserIn, {**{k: data.get(k, "") for k in fields}, "locked": False})
    await users.create_user(db, caller, body)
    return redirect(request, f"{site_base(request)}/users")


def _user_values(user: User, roles: frozenset[SiteRole]) -> dict[str, str]:
    values = {name: getattr(user, name) for name in ("first_name", "last_name", "mail")}
    values["enabled"] = "" if user.locked else "on"
    values.update({f"role-{role}": "on" for role in roles})
    return values


def _edit_context(caller: Principal, login: str) -> dict[str, Any]:
    """What the edit form shows besides its values: roles only to who may change them."""
    roles = ROLE_CHOICES if caller.can(Permission.ROLES_WRITE) else None
    return {"user": {"login": login}, "role_choices": roles}


@router.get("/users/{login}/edit", response_class=HTMLResponse)
async def edit_user_form(request: Request, login: str, caller: Caller, db: DB) -> Response:
    caller.require(Permission.USERS_WRITE)
    user = await users.read_user(db, caller, login)
    values = _user_values(user, await grants.roles_of(db, caller.site, user))
    context = _edit_context(caller, user.login)
    return page(request, "identity/_user_form.html", caller, values=values, errors={}, **context)


@router.post("/users/{login}")
async def edit_user(request: Request, login: str, caller: Caller, db: DB) -> Response:
    data = await form_data(request)
    context = _edit_context(caller, login)
    expect_form(request, "identity/_user_form.html", data, **context)
    fields = {name: data.get(name, "") for name in ("first_name", "last_name", "mail")}
    # An empty password field keeps the password: it is never shown, only replaced.
    password = {"password": data["password"]} if data.get("password") else {}
    body = validated(UserPatch, {**fields, **password, "locked": not checked(data, "enabled")})
    user = await users.update_user(db, caller, login, body)
    if context["role_choices"] is not None:
        wanted = {role for role, _ in ROLE_CHOICES if checked(data, f"role-{role}")}
        await grants.set_roles(db, caller, user, wanted)
    return redirect(request, f"{site_base(request)}/users")


@router.post("/users/{login}/delete")
async def delete_user(
    request: Request, login: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    user_id = await users.delete_user(db, caller, login)
    await owners.end_sessions_of(db, node.remote_sessions, user_id, caller.user.login)
    return redirect(request, f"{site_base(request)}/users")


@router.post("/users/{login}/second-factor/reset")
async def reset_second_factor(request: Request, login: str, caller: Caller, db: DB) -> Response:
    await second_factor.reset(db, caller, login)
    return redirect(request, f"{site_base(request)}/users")


# --- Management > Site Roles -----------------------------------------------------------------


async def _user_choices(db: DB, caller: Principal) -> list[tuple[str, str]] | None:
    """Users to pick from, if the caller may list them; otherwise the login is typed."""
    if not caller.can(Permission.USERS_READ):
        return None
    return [(user.login, user.login) for user in await users.list_users(db, caller)]


@router.get("/site-roles", response_class=HTMLResponse)
async def roles_page(request: Request, caller: Caller, db: DB) -> Response:
    found = await grants.list_grants(db, caller)
    # Directory groups' roles are granted on their directory's page.
    held = await members.list_group_grants(db, caller)
    return page(
        request,
        "identity/site_roles.html",
        caller,
        title="Site Roles",
        grants=found,
        group_grants=held,
    )


async def _grant_context(db: DB, caller: Principal) -> dict[str, Any]:
    return {
        "user_choices": await _user_choices(db, caller),
        "role_choices": ROLE_CHOICES,
    }


@router.get("/site-roles/new", response_class=HTMLResponse)
async def grant_form(request: Request, caller: Caller, db: DB) -> Response:
    caller.require(Permission.ROLES_WRITE)
    context = await _grant_context(db, caller)
    return page(request, "identity/_grant_form.html", caller, values={}, errors={}, **context)


@router.post("/site-roles")
async def grant_role(request: Request, caller: Caller, db: DB) -> Response:
    data = await form_data(request)
    context = await _grant_context(db, caller) if caller.can(Permission.ROLES_WRITE) else {}
    expect_form(
        request,
        "identity/_grant_form.html",
        data,
        fields={"user_not_found": "principal"},
        **context,
    )
    body = validated(GrantIn, {"principal": data.get("principal"), "role": data.get("role")})
    user = await users.get_user(db, caller.tenant, body.principal)
    await grants.grant_role(db, caller, user, body.role)
    return redirect(request, f"{site_base(request)}/site-roles")


@router.post("/site-roles/{grant_id}/revoke")
async def revoke_role(request: Request, grant_id: str, caller: Caller, db: DB) -> Response:
    await grants.revoke_grant(db, caller, grant_id)
    return redirect(request, f"{site_base(request)}/site-roles")


# --- Management > API Tokens -----------------------------------------------------------------


@router.get("/api-tokens", response_class=HTMLResponse)
async def tokens_page(request: Request, caller: Caller, db: DB) -> Response:
    found = await api_tokens.list_tokens(db, caller)
    return page(request, "identity/api_tokens.html", caller, title="API Tokens", tokens=found)


@router.get("/api-tokens/new", response_class=HTMLResponse)
async def token_form(request: Request, caller: Caller, db: DB) -> Response:
    caller.require(Permission.API_TOKENS_WRITE)
    default_expiry = (datetime.now(UTC) + timedelta(days=90)).date().isoformat()
    return page(
        request,
        "identity/_token_form.html",
        caller,
        values={"expires_at": default_expiry, "enabled": "on"},
        errors={},
        user_choices=await _user_choices(db, caller),
    )


def _end_of_day(value: str) -> str | None:
    """The date picker gives a day; the token stays valid until that day ends (UTC)."""
    try:
        day = datetime.fromisoformat(value).date()
    except ValueError:
        return None
    return datetime.combine(day, time(23, 59, 59), UTC).isoformat()


@router.post("/api-tokens")
async def add_token(request: Request, caller: Caller, db: DB, node: NodeDep) -> Response:
    data = await form_data(request)
    choices = await _user_choices(db, caller) if caller.can(Permission.API_TOKENS_WRITE) else None
    expect_form(
        request,
        "identity/_token_form.html",
        data,
        fields={"user_not_found": "user"},
        user_choices=choices,
    )
    body = validated(
        ApiTokenIn,
        {
            "user": data.get("user"),
            "expires_at": _end_of_day(data.get("expires_at", "")),
            "filter": [entry for entry in re.split(r"[\s,]+", data.get("filter", "")) if entry],
            "description": data.get("description", ""),
            "enabled": checked(data, "enabled"),
        },
    )
    await api_tokens.create_token(db, node.keyring, caller, **body.model_dump())
    return redirect(request, f"{site_base(request)}/api-tokens")


@router.get("/api-tokens/{token_id}", response_class=HTMLResponse)
async def token_details(
    request: Request, token_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    token, owner, jwt = await api_tokens.read_token(db, node.keyring, caller, token_id)
    return page(request, "identity/_token_details.html", caller, token=token, owner=owner, jwt=jwt)


@router.post("/api-tokens/{token_id}/unlock", response_class=HTMLResponse)
async def unlock_token(
    request: Request, token_id: str, caller: Caller, db: DB, node: NodeDep
) -> Response:
    jwt = await api_tokens.unlock_token(db, node.keyring, caller, token_id)
    return page(request, "identity/_token_jwt.html", caller, token_id=token_id, jwt=jwt)


@router.post("/api-tokens/{token_id}/lock", response_class=HTMLResponse)
async def lock_token(request: Request, token_id: str, caller: Caller, db: DB) -> Response:
    await api_tokens.lock_token(db, caller, token_id)
    return page(request, "identity/_token_jwt.html", caller, token_id=token_id, jwt=None)


@router.post("/api-tokens/{token_id}/delete")
async def delete_token(request: Request, token_id: str, caller: Caller, db: DB) -> Response:
    await api_tokens.delete_token(db, caller, token_id)
    return redirect(request, f"{site_base(request)}/api-tokens")


# After the fixed paths above: the first route whose path matches is the one that answers.
@router.post("/api-tokens/{token_id}/{switch}")
async def switch_token(
    request: Request,
    token_id: str,
    switch: Literal["enable", "disable"],
    caller: Caller,
    db: DB,
) -> Response:
    await api_tokens.update_token(db, caller, token_id, ApiTokenPatch(enabled=switch == "enable"))
    return redirect(request, f"{site_base(request)}/api-tokens")


# --- Reports > Audit -------------------------------------------------------------------------


AUDIT_PAGE = 50


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    caller: Caller,
    db: DB,
    action: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=128)] = "",
    outcome: Annotated[str, Query(max_length=16)] = "",
    offset: Offset = 0,
) -> Response:
    caller.require(Permission.AUDIT_READ)
    events = await page_events(
        db,
        caller.tenant.name,
        caller.site.name,
        EventFilter(action or None, actor or None, outcome or None),
        AUDIT_PAGE,
        offset,
    )
    values = {"action": action, "actor": actor, "outcome": outcome}
    return page(
        request,
        "identity/audit.html",
        caller,
        title="Audit",
        events=events.rows,
        values=values,
        pages=Pages(offset, AUDIT_PAGE, events.total, values),
    )
