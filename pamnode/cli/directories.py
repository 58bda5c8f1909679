"""`pamnode directory …`: Management > Directories from a shell (docs/directories.md)."""

from pathlib import Path
from typing import Annotated, Any

import typer

from pamnode.cli.client import request
from pamnode.cli.output import Json, Yes, confirm, secret_from, show, table
from pamnode.cli.refs import resolve_asset

directory_app = typer.Typer(
    help="Directories (LDAP, Active Directory) of the tenant.", no_args_is_help=True
)

Name = Annotated[str, typer.Argument(help="The directory's name (users log in as login@name).")]
Group = Annotated[str, typer.Argument(help="A group of the directory: its common name or DN.")]
PasswordFile = Annotated[
    Path | None,
    typer.Option(help="File holding the bind password (else asked; never on the command line)."),
]
Url = Annotated[str, typer.Option(help="ldaps://host[:port], or ldap://host[:port] (StartTLS).")]
Sha256 = Annotated[str | None, typer.Option(help="Pin the server's certificate by its SHA-256.")]


@directory_app.command("add")
def add(
    name: Name,
    url: Url,
    bind_dn: Annotated[str, typer.Option(help="The DN pamnode searches with.")],
    user_base: Annotated[str, typer.Option(help="Where users are searched.")],
    group_base: Annotated[str, typer.Option(help="Where groups are searched.")],
    bind_password_file: PasswordFile = None,
    preset: Annotated[
        str, typer.Option(help="active-directory or openldap: filters and attributes.")
    ] = "active-directory",
    sha256: Sha256 = None,
    ca_file: Annotated[
        Path | None, typer.Option(help="The CA of the server's certificate (PEM).")
    ] = None,
    as_json: Json = False,
) -> None:
    """Management > Directories > Add: an LDAP or Active Directory directory."""
    body = {
        "name": name,
        "preset": preset,
        "url": url,
        "server_sha256": sha256,
        "ca_pem": ca_file.read_text() if ca_file else None,
        "bind_dn": bind_dn,
        "bind_password": secret_from(bind_password_file, "Bind password"),
        "user_base": user_base,
        "group_base": group_base,
    }
    show(request("POST", "directories", body=body), as_json)


@directory_app.command("list")
def list_(as_json: Json = False) -> None:
    """The tenant's directories: the local one first, then the LDAP ones."""
    rows = request("GET", "directories")
    table(rows, ["name", "kind", "url", "bind_dn", "enabled"], as_json)


@directory_app.command("show")
def show_directory(name: Name, as_json: Json = False) -> None:
    """A directory's configuration (never its bind password)."""
    show(request("GET", f"directories/{name}"), as_json)


@directory_app.command("edit")
def edit(
    name: Name,
    url: Annotated[str | None, typer.Option(help="A new URL.")] = None,
    bind_dn: Annotated[str | None, typer.Option(help="A new bind DN.")] = None,
    bind_password_file: PasswordFile = None,
    sha256: Sha256 = None,
    enabled: Annotated[
        bool | None, typer.Option("--enabled/--disabled", help="Disabled: nobody logs in by it.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Change a directory; what is left out keeps its value."""
    changes: dict[str, Any] = {
        "url": url,
        "bind_dn": bind_dn,
        "bind_password": secret_from(bind_password_file, "") if bind_password_file else None,
        "server_sha256": sha256,
        "enabled": enabled,
    }
    body = {key: value for key, value in changes.items() if value is not None}
    show(request("PATCH", f"directories/{name}", body=body), as_json)


@directory_app.command("rm")
def rm(name: Name, yes: Yes = False) -> None:
    """Delete a directory, with its users in pamnode and their roles and tokens."""
    confirm(yes, f"Delete directory '{name}'? Its users go with it, with their roles and tokens.")
    request("DELETE", f"directories/{name}")
    typer.echo(f"directory '{name}' deleted")


@directory_app.command("test")
def test_connection(
    name: Name,
    user: Annotated[str | None, typer.Option(help="A login to find, with its groups.")] = None,
    as_json: Json = False,
) -> None:
    """Test Connection: connect, TLS, bind, search, and the user's resolved groups."""
    report = request("POST", f"directories/{name}/test-connection", body={"user": user})
    show(report, as_json)
    if not report["ok"]:
        raise typer.Exit(1)


@directory_app.command("add-user")
def add_user(
    name: Name,
    login: Annotated[str, typer.Argument(help="The user's login in the directory.")],
    as_json: Json = False,
) -> None:
    """Bring a directory user into pamnode (to grant it roles or an API token)."""
    show(request("POST", f"directories/{name}/users", body={"login": login}), as_json)


@directory_app.command("grant")
def grant(
    name: Name,
    group: Group,
    role: Annotated[str, typer.Argument(help="A site role.")],
    as_json: Json = False,
) -> None:
    """Grant a site role to a directory group (never the service role)."""
    show(
        request("POST", f"directories/{name}/group-grants", body={"group": group, "role": role}),
        as_json,
    )


@directory_app.command("grants")
def grants(name: Name, as_json: Json = False) -> None:
    """The site roles the directory's groups hold on this site."""
    rows = request("GET", f"directories/{name}/group-grants")
    table(rows, ["id", "group", "role", "dn"], as_json)


@directory_app.command("grant-asset")
def grant_asset(
    name: Name,
    group: Group,
    asset: Annotated[str, typer.Argument(help="Asset or container: its id, path or name.")],
    role: Annotated[str, typer.Argument(help="viewer, operator, asset-manager or owner.")],
    as_json: Json = False,
) -> None:
    """Grant an asset permission to a directory group (revoke: `pamnode asset revoke`)."""
    body = {"group": group, "asset": resolve_asset(asset), "role": role}
    show(request("POST", f"directories/{name}/asset-grants", body=body), as_json)


@directory_app.command("asset-grants")
def asset_grants(name: Name, as_json: Json = False) -> None:
    """The asset permissions the directory's groups hold on this site's assets."""
    rows = request("GET", f"directories/{name}/asset-grants")
    table(rows, ["id", "group", "asset", "asset_id", "role"], as_json)
