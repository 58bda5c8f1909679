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
from pamnode.cli.output import Yes, confirm, secret_from, show, table


def login(
    url: Annotated[str, typer.Argument(help="Site base URL: https://host:port/ztna/TENANT/SITE")],
    user: Annotated[str, typer.Option("--user", "-u", help="Login name.")],
    password_file: Annotated[
        Path | None, typer.Option(help="Read the password from a file.")
    ] = None,
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
) -> None:
    """Log in to a site and keep the session token for the next commands."""
    if ca_file and sha256:
        raise fail("give --ca-file or --sha256, not both")
    if sha256:
        # Checked before the password leaves this machine.
        ca_file = pin_certificate(url, sha256)
    password = secret_from(password_file, "Password")
    try:
        response = httpx.post(
            site_api(url) + "auth/login",
            json={"login": user, "password": password},
            verify=tls_context(ca_file, pinned=bool(sha256)),
        )
    except httpx.HTTPError as exc:
        raise unreachable(url, exc) from None
    if response.is_error:
        raise fail(f"{response.status_code}: {response.json()['error']['message']}")
    save_session(url, response.json()["token"], ca_file, pinned=bool(sha256))
    typer.echo(f"logged in to {url} as {user}")


def logout() -> None:
    """End the stored session."""
    request("POST", "auth/logout")
    forget_session()
    typer.echo("logged out")


tenant_app = typer.Typer(help="Tenants (from the base tenant only).", no_args_is_help=True)


@tenant_app.command("add")
def tenant_add(
    name: str,
    admin_login: Annotated[str, typer.Option(help="First administrator of the new tenant.")],
    admin_password_file: Annotated[Path | None, typer.Option()] = None,
    issuer: Annotated[str | None, typer.Option(help="Token issuer (default pamnode:NAME).")] = None,
) -> None:
    body = {
        "name": name,
        "issuer": issuer,
        "admin_login": admin_login,
        "admin_password": secret_from(admin_password_file, "Administrator password"),
    }
    show(request("POST", "tenants", body=body))


@tenant_app.command("list")
def tenant_list() -> None:
    table(request("GET", "tenants"), ["name", "issuer", "created_at"])


@tenant_app.command("rm")
def tenant_rm(name: str, yes: Yes = False) -> None:
    confirm(yes, f"Delete tenant '{name}' with all its sites, users and assets?")
    request("DELETE", f"tenants/{name}")
    typer.echo(f"tenant '{name}' deleted")


site_app = typer.Typer(help="Sites of the current tenant.", no_args_is_help=True)


@site_app.command("add")
def site_add(name: str) -> None:
    show(request("POST", "sites", body={"name": name}))


@site_app.command("list")
def site_list() -> None:
    table(request("GET", "sites"), ["name", "created_at"])


user_app = typer.Typer(help="Local directory users.", no_args_is_help=True)


@user_app.command("add")
def user_add(
    login: str,
    password_file: Annotated[Path | None, typer.Option()] = None,
    first_name: str = "",
    last_name: str = "",
    mail: str = "",
    locked: bool = False,
) -> None:
    body = {
        "login": login,
        "password": secret_from(password_file, "Password"),
        "first_name": first_name,
        "last_name": last_name,
        "mail": mail,
        "locked": locked,
    }
    show(request("POST", "users", body=body))


@user_app.command("list")
def user_list() -> None:
    table(request("GET", "users"), ["login", "first_name", "last_name", "mail", "locked"])


@user_app.command("show")
def user_show(login: str) -> None:
    show(request("GET", f"users/{login}"))


@user_app.command("lock")
def user_lock(login: str) -> None:
    show(request("PATCH", f"users/{login}", body={"locked": True}))


@user_app.command("unlock")
def user_unlock(login: str) -> None:
    show(request("PATCH", f"users/{login}", body={"locked": False}))


@user_app.command("rm")
def user_rm(login: str, yes: Yes = False) -> None:
    confirm(yes, f"Delete user '{login}' and every API token it holds?")
    request("DELETE", f"users/{login}")
    typer.echo(f"user '{login}' deleted")


role_app = typer.Typer(help="Site roles.", no_args_is_help=True)


@role_app.command("grant")
def role_grant(user: str, role: str) -> None:
    show(request("POST", "site-roles", body={"principal": user, "role": role}))


@role_app.command("list")
def role_list() -> None:
    table(request("GET", "site-roles"), ["id", "principal", "role", "created_at"])


@role_app.command("revoke")
def role_revoke(grant_id: str, yes: Yes = False) -> None:
    confirm(yes, f"Revoke role grant {grant_id}?")
    request("DELETE", f"site-roles/{grant_id}")
    typer.echo("revoked")


token_app = typer.Typer(help="API tokens.", no_args_is_help=True)


@token_app.command("add")
def token_add(
    user: Annotated[str, typer.Option(help="Owner of the token.")],
    expires: Annotated[datetime, typer.Option(help="Expiration date (UTC unless given).")],
    filter: Annotated[list[str] | None, typer.Option(help="Allowed source CIDR (repeat).")] = None,
    description: str = "",
    enabled: Annotated[bool, typer.Option("--enabled/--disabled")] = True,
) -> None:
    body = {
        "user": user,
        "expires_at": (expires if expires.tzinfo else expires.replace(tzinfo=UTC)).isoformat(),
        "filter": filter or [],
        "description": description,
        "enabled": enabled,
    }
    show(request("POST", "api-tokens", body=body))


@token_app.command("list")
def token_list() -> None:
    columns = ["id", "user", "description", "filter", "expires_at", "enabled", "locked"]
    table(request("GET", "api-tokens"), columns)


@token_app.command("show")
def token_show(token_id: str) -> None:
    show(request("GET", f"api-tokens/{token_id}"))


@token_app.command("unlock")
def token_unlock(token_id: str) -> None:
    """Show the token's JWT (and keep it visible in its details until `lock`)."""
    typer.echo(request("POST", f"api-tokens/{token_id}/unlock")["jwt"])


@token_app.command("lock")
def token_lock(token_id: str) -> None:
    request("POST", f"api-tokens/{token_id}/lock")
    typer.echo("locked")


@token_app.command("enable")
def token_enable(token_id: str) -> None:
    show(request("PATCH", f"api-tokens/{token_id}", body={"enabled": True}))


@token_app.command("disable")
def token_disable(token_id: str) -> None:
    show(request("PATCH", f"api-tokens/{token_id}", body={"enabled": False}))


@token_app.command("rm")
def token_rm(token_id: str, yes: Yes = False) -> None:
    confirm(yes, f"Revoke API token {token_id}? Callers using it are refused at once.")
    request("DELETE", f"api-tokens/{token_id}")
    typer.echo("revoked")


def audit(
    action: str | None = None,
    actor: str | None = None,
    limit: int = 50,
) -> None:
    """The newest audit events of the current site."""
    params = {"action": action, "actor": actor, "limit": limit}
    events = request("GET", "audit-events", params={k: v for k, v in params.items() if v})
    table(events, ["at", "actor", "action", "target", "outcome", "source"])


def register_admin_commands(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(logout)
    app.command()(audit)
    app.add_typer(tenant_app, name="tenant")
    app.add_typer(site_app, name="site")
    app.add_typer(user_app, name="user")
    app.add_typer(role_app, name="role")
    app.add_typer(token_app, name="token")
