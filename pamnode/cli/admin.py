"""Administration verbs that call a node's REST API: enough for Step 1 of the seed from a shell."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer

from pamnode.cli.client import (
    fail,
    forget_session,
    pin_certificate,
    request,
    save_session,
    site_api,
    tls_context,
    unreachable,
)
from pamnode.cli.output import Json, Yes, confirm, secret_from, show, table
from pamnode.cli.refs import SITE_ROLE, TENANT, TOKEN, USER, resolve
from pamnode.identity.roles import SiteRole

PasswordFile = Annotated[
    Path | None, typer.Option(help="Read the password from a file (default: prompt for it).")
]
Login = Annotated[str, typer.Argument(help="The user's login.")]
UserRef = Annotated[str, typer.Argument(help="The user: its login or id.")]
TokenRef = Annotated[
    str,
    typer.Argument(help="The token: its id, its description, or its user's login."),
]
Description = Annotated[str, typer.Option(help="Free text.")]


def login(
    url: Annotated[str, typer.Argument(help="Site base URL: https://host:port/ztna/TENANT/SITE")],
    user: Annotated[str, typer.Option("--user", "-u", help="Login name.")],
    password_file: PasswordFile = None,
    ca_file: Annotated[
        str | None, typer.Option(help="Certificate to trust (a self-signed node's cert.pem).")
    ] = None,
    sha256: Annotated[
        str | None,
        typer.Option(
            help="Trust the certificate the node presents if its SHA-256 is this one (what "
            "its startup banner shows), and only that certificate from now on.",
        ),
    ] = None,
    code: Annotated[
        str | None,
        typer.Option(help="Second-factor code (asked for when needed if not given)."),
    ] = None,
) -> None:
    """Log in to a site and keep the session token for the next commands."""
    if ca_file and sha256:
        raise fail("give --ca-file or --sha256, not both")
    if sha256:
        # Checked before the password leaves this machine.
        ca_file = pin_certificate(url, sha256)
    password = secret_from(password_file, "Password")
    body = {"login": user, "password": password, **({"code": code} if code else {})}
    verify = tls_context(ca_file, pinned=bool(sha256))
    try:
        response = httpx.post(site_api(url) + "auth/login", json=body, verify=verify)
        if _code_asked(response) and not code:
            # Asked only of who needs it: one prompt more, the password kept.
            body["code"] = typer.prompt("Second-factor code (app, or a recovery code)")
            response = httpx.post(site_api(url) + "auth/login", json=body, verify=verify)
    except httpx.HTTPError as exc:
        raise unreachable(url, exc) from None
    if response.is_error:
        raise fail(f"{response.status_code}: {response.json()['error']['message']}")
    save_session(url, response.json()["token"], ca_file, pinned=bool(sha256))
    typer.echo(f"logged in to {url} as {user}")


def _code_asked(response: httpx.Response) -> bool:
    return response.status_code == 401 and (
        response.json().get("error", {}).get("code") == "second_factor_required"
    )


def logout() -> None:
    """End the stored session."""
    request("POST", "auth/logout")
    forget_session()
    typer.echo("logged out")


tenant_app = typer.Typer(help="Tenants (from the base tenant only).", no_args_is_help=True)


@tenant_app.command("add")
def tenant_add(
    name: Annotated[str, typer.Argument(help="Name, also in the tenant's URLs.")],
    admin_login: Annotated[str, typer.Option(help="First administrator of the new tenant.")],
    admin_password_file: PasswordFile = None,
    issuer: Annotated[str | None, typer.Option(help="Token issuer (default pamnode:NAME).")] = None,
    as_json: Json = False,
) -> None:
    """Create a tenant with its root site and first administrator."""
    body = {
        "name": name,
        "issuer": issuer,
        "admin_login": admin_login,
        "admin_password": secret_from(admin_password_file, "Administrator password"),
    }
    show(request("POST", "tenants", body=body), as_json)


@tenant_app.command("list")
def tenant_list(as_json: Json = False) -> None:
    """Every tenant of the node."""
    table(request("GET", "tenants"), ["id", "name", "issuer", "created_at"], as_json)


@tenant_app.command("rm")
def tenant_rm(
    tenant: Annotated[str, typer.Argument(help="The tenant: its name or id.")], yes: Yes = False
) -> None:
    """Delete a tenant with everything it holds."""
    name = resolve(TENANT, tenant, "name")
    confirm(yes, f"Delete tenant '{name}' with all its sites, users and assets?")
    request("DELETE", f"tenants/{name}")
    typer.echo(f"tenant '{name}' deleted")


site_app = typer.Typer(help="Sites of the current tenant.", no_args_is_help=True)


@site_app.command("add")
def site_add(
    name: Annotated[str, typer.Argument(help="Name, also in the site's URLs.")],
    as_json: Json = False,
) -> None:
    """Add a site to the current tenant."""
    show(request("POST", "sites", body={"name": name}), as_json)


@site_app.command("list")
def site_list(as_json: Json = False) -> None:
    """The sites of the current tenant."""
    table(request("GET", "sites"), ["id", "name", "created_at"], as_json)


RetentionOption = Annotated[
    int | None, typer.Option(min=0, help="Days kept; 0 keeps for ever.", show_default=False)
]


@site_app.command("settings")
def site_settings(
    recording_retention_days: RetentionOption = None,
    job_output_retention_days: RetentionOption = None,
    as_json: Json = False,
) -> None:
    """The current site's settings (how many days it keeps session recordings and job
    output); with options, change them (administrators)."""
    asked = {
        "recording_retention_days": recording_retention_days,
        "job_output_retention_days": job_output_retention_days,
    }
    changes = {name: days or None for name, days in asked.items() if days is not None}
    if changes:
        show(request("PATCH", "site-settings", body=changes), as_json)
    else:
        show(request("GET", "site-settings"), as_json)


user_app = typer.Typer(help="Local directory users.", no_args_is_help=True)


@user_app.command("add")
def user_add(
    login: Login,
    password_file: PasswordFile = None,
    first_name: Annotated[str, typer.Option(help="First name.")] = "",
    last_name: Annotated[str, typer.Option(help="Last name.")] = "",
    mail: Annotated[str, typer.Option(help="Mail address.")] = "",
    locked: Annotated[bool, typer.Option(help="Create it locked (cannot log in).")] = False,
    as_json: Json = False,
) -> None:
    """Add a user to the tenant's local directory."""
    body = {
        "login": login,
        "password": secret_from(password_file, "Password"),
        "first_name": first_name,
        "last_name": last_name,
        "mail": mail,
        "locked": locked,
    }
    show(request("POST", "users", body=body), as_json)


@user_app.command("list")
def user_list(as_json: Json = False) -> None:
    """The tenant's users."""
    columns = ["id", "login", "first_name", "last_name", "mail", "locked"]
    table(request("GET", "users"), columns, as_json)


@user_app.command("show")
def user_show(user: UserRef, as_json: Json = False) -> None:
    """A user's details."""
    show(request("GET", f"users/{resolve(USER, user, 'login')}"), as_json)


@user_app.command("lock")
def user_lock(user: UserRef, as_json: Json = False) -> None:
    """Lock a user out (its sessions and tokens are refused)."""
    show(request("PATCH", f"users/{resolve(USER, user, 'login')}", body={"locked": True}), as_json)


@user_app.command("unlock")
def user_unlock(user: UserRef, as_json: Json = False) -> None:
    """Let a locked user in again."""
    show(request("PATCH", f"users/{resolve(USER, user, 'login')}", body={"locked": False}), as_json)


@user_app.command("rm")
def user_rm(user: UserRef, yes: Yes = False) -> None:
    """Delete a user and its API tokens."""
    login = resolve(USER, user, "login")
    confirm(yes, f"Delete user '{login}' and every API token it holds?")
    request("DELETE", f"users/{login}")
    typer.echo(f"user '{login}' deleted")


role_app = typer.Typer(help="Site roles.", no_args_is_help=True)


@role_app.command("grant")
def role_grant(
    user: Login,
    role: Annotated[str, typer.Argument(help=", ".join(SiteRole))],
    as_json: Json = False,
) -> None:
    """Give a user a role in the current site."""
    show(request("POST", "site-roles", body={"principal": user, "role": role}), as_json)


@role_app.command("list")
def role_list(as_json: Json = False) -> None:
    """The site's role grants."""
    table(request("GET", "site-roles"), ["id", "principal", "role", "created_at"], as_json)


@role_app.command("revoke")
def role_revoke(
    grant: Annotated[str, typer.Argument(help="The grant: its id or the user's login.")],
    yes: Yes = False,
) -> None:
    """Take a site role back."""
    grant_id = resolve(SITE_ROLE, grant)
    confirm(yes, f"Revoke role grant {grant_id}?")
    request("DELETE", f"site-roles/{grant_id}")
    typer.echo("revoked")


token_app = typer.Typer(help="API tokens.", no_args_is_help=True)


@token_app.command("add")
def token_add(
    user: Annotated[str, typer.Option(help="Login of the token's owner.")],
    expires: Annotated[datetime, typer.Option(help="Expiration date (UTC unless given).")],
    filter: Annotated[list[str] | None, typer.Option(help="Allowed source CIDR (repeat).")] = None,
    description: Description = "",
    enabled: Annotated[
        bool, typer.Option("--enabled/--disabled", help="Disabled: refused until enabled.")
    ] = True,
    as_json: Json = False,
) -> None:
    """Issue an API token to a user (locked: `unlock` shows its JWT)."""
    body = {
        "user": user,
        "expires_at": (expires if expires.tzinfo else expires.replace(tzinfo=UTC)).isoformat(),
        "filter": filter or [],
        "description": description,
        "enabled": enabled,
    }
    show(request("POST", "api-tokens", body=body), as_json)


@token_app.command("list")
def token_list(as_json: Json = False) -> None:
    """The site's API tokens (never their JWTs)."""
    columns = ["id", "user", "description", "filter", "expires_at", "enabled", "locked"]
    table(request("GET", "api-tokens"), columns, as_json)


@token_app.command("show")
def token_show(token: TokenRef, as_json: Json = False) -> None:
    """A token's details (its JWT too while it is unlocked)."""
    show(request("GET", f"api-tokens/{resolve(TOKEN, token)}"), as_json)


@token_app.command("unlock")
def token_unlock(token: TokenRef) -> None:
    """Show the token's JWT (and keep it visible in its details until `lock`)."""
    typer.echo(request("POST", f"api-tokens/{resolve(TOKEN, token)}/unlock")["jwt"])


@token_app.command("lock")
def token_lock(token: TokenRef) -> None:
    """Hide the token's JWT again."""
    request("POST", f"api-tokens/{resolve(TOKEN, token)}/lock")
    typer.echo("locked")


@token_app.command("enable")
def token_enable(token: TokenRef, as_json: Json = False) -> None:
    """Accept the token again."""
    show(request("PATCH", f"api-tokens/{resolve(TOKEN, token)}", body={"enabled": True}), as_json)


@token_app.command("disable")
def token_disable(token: TokenRef, as_json: Json = False) -> None:
    """Refuse the token until it is enabled."""
    show(request("PATCH", f"api-tokens/{resolve(TOKEN, token)}", body={"enabled": False}), as_json)


@token_app.command("rm")
def token_rm(token: TokenRef, yes: Yes = False) -> None:
    """Revoke a token for good."""
    token_id = resolve(TOKEN, token)
    confirm(yes, f"Revoke API token {token_id}? Callers using it are refused at once.")
    request("DELETE", f"api-tokens/{token_id}")
    typer.echo("revoked")


def register_admin_commands(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(logout)
    app.add_typer(tenant_app, name="tenant")
    app.add_typer(site_app, name="site")
    app.add_typer(user_app, name="user")
    app.add_typer(role_app, name="role")
    app.add_typer(token_app, name="token")
