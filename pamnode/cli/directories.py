"""`pamnode directory …`: Management > Directories from a shell (docs/directories.md)."""

from pathlib import Path
from typing import Annotated, Any

import typer

from pamnode.cli.client import request
from pamnode.cli.output import Yes, confirm, show, table

directory_app = typer.Typer(
    help="Directories (LDAP, Active Directory) of the tenant.", no_args_is_help=True
)

PasswordFile = Annotated[
    Path | None, typer.Option(help="File holding the bind password (never on the command line).")
]


def _password(path: Path | None) -> str | None:
    return path.read_text().strip() if path else None


def _ca(path: Path | None) -> str | None:
    return path.read_text() if path else None


@directory_app.command("add")
def add(
    name: str,
    url: Annotated[
        str, typer.Option(help="ldaps://host[:port], or ldap://host[:port] (StartTLS).")
    ],
    bind_dn: Annotated[str, typer.Option(help="The DN pamnode searches with.")],
    bind_password_file: PasswordFile,
    user_base: Annotated[str, typer.Option(help="Where users are searched.")],
    group_base: Annotated[str, typer.Option(help="Where groups are searched.")],
    preset: Annotated[str, typer.Option(help="active-directory or openldap.")] = "active-directory",
    sha256: Annotated[str | None, typer.Option(help="Pin the server's certificate.")] = None,
    ca_file: Annotated[
        Path | None, typer.Option(help="The CA of the server's certificate.")
    ] = None,
) -> None:
    body = {
        "name": name,
        "preset": preset,
        "url": url,
        "server_sha256": sha256,
        "ca_pem": _ca(ca_file),
        "bind_dn": bind_dn,
        "bind_password": _password(bind_password_file),
        "user_base": user_base,
        "group_base": group_base,
    }
    show(request("POST", "directories", body=body))


@directory_app.command("list")
def list_() -> None:
    table(request("GET", "directories"), ["name", "kind", "url", "bind_dn", "enabled"])


@directory_app.command("show")
def show_directory(name: str) -> None:
    show(request("GET", f"directories/{name}"))


@directory_app.command("edit")
def edit(
    name: str,
    url: Annotated[str | None, typer.Option()] = None,
    bind_dn: Annotated[str | None, typer.Option()] = None,
    bind_password_file: PasswordFile = None,
    sha256: Annotated[str | None, typer.Option()] = None,
    enabled: Annotated[bool | None, typer.Option("--enabled/--disabled")] = None,
) -> None:
    changes: dict[str, Any] = {
        "url": url,
        "bind_dn": bind_dn,
        "bind_password": _password(bind_password_file),
        "server_sha256": sha256,
        "enabled": enabled,
    }
    body = {key: value for key, value in changes.items() if value is not None}
    show(request("PATCH", f"directories/{name}", body=body))


@directory_app.command("rm")
def rm(name: str, yes: Yes = False) -> None:
    confirm(yes, f"Delete directory '{name}'? Its users go with it, with their roles and tokens.")
    request("DELETE", f"directories/{name}")
    typer.echo(f"directory '{name}' deleted")


@directory_app.command("test")
def test_connection(
    name: str, user: Annotated[str | None, typer.Option(help="A login to resolve.")] = None
) -> None:
    """Test Connection: connect, TLS, bind, search, and the user's resolved groups."""
    report = request("POST", f"directories/{name}/test-connection", body={"user": user})
    show(report)
    if not report["ok"]:
        raise typer.Exit(1)


@directory_app.command("add-user")
def add_user(name: str, login: str) -> None:
    """Bring a directory user into pamnode (to grant it roles or an API token)."""
    show(request("POST", f"directories/{name}/users", body={"login": login}))


@directory_app.command("grant")
def grant(name: str, group: str, role: str) -> None:
    """Grant a site role to a directory group (never the service role)."""
    show(request("POST", f"directories/{name}/group-grants", body={"group": group, "role": role}))


@directory_app.command("grants")
def grants(name: str) -> None:
    table(request("GET", f"directories/{name}/group-grants"), ["id", "group", "role", "dn"])


@directory_app.command("grant-asset")
def grant_asset(name: str, group: str, asset_id: str, role: str) -> None:
    """Grant an asset permission to a directory group (revoke: `pamnode asset revoke`)."""
    body = {"group": group, "asset": asset_id, "role": role}
    show(request("POST", f"directories/{name}/asset-grants", body=body))


@directory_app.command("asset-grants")
def asset_grants(name: str) -> None:
    rows = request("GET", f"directories/{name}/asset-grants")
    table(rows, ["id", "group", "asset", "asset_id", "role"])
