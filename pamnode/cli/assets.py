"""`pamnode asset …` and `pamnode vault …`: the asset library and its vault from a shell.

Assets are named by id or by path (`dc1/linux/web-01`, through the containers the caller
sees). Secret values come from files or a hidden prompt, never from the command line.
"""

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.tree import Tree

from pamnode.cli.client import fail, request
from pamnode.cli.output import Yes, confirm, show, table

asset_app = typer.Typer(help="The asset library of the current site.", no_args_is_help=True)
vault_app = typer.Typer(help="The tenant's key and sealed secrets.", no_args_is_help=True)
console = Console()

ASSET_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
COLUMNS = ["id", "name", "type", "host", "port", "role", "secrets"]

Ref = Annotated[str, typer.Argument(help="Asset id, or its path such as dc1/linux/web-01.")]
Host = Annotated[str | None, typer.Option(help="DNS name or IP address.")]
Port = Annotated[int | None, typer.Option(help="Default: 22 (SSH), 5985/5986 (WinRM).")]
Tags = Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeat for more).")]
Username = Annotated[str | None, typer.Option(help="Vault: the account to log in with.")]
SecretFile = Annotated[Path | None, typer.Option(exists=True, dir_okay=False)]
AskPassword = Annotated[bool, typer.Option(help="Vault: prompt for the password.")]


def resolve(ref: str) -> str:
    """The id of the asset named by `ref` (an id, or a path of names from a visible root)."""
    if ASSET_ID.fullmatch(ref):
        return ref
    level: list[dict[str, Any]] = request("GET", "assets/tree")
    found: dict[str, Any] | None = None
    for name in [part for part in ref.split("/") if part]:
        matches = [node for node in level if node["name"] == name]
        if len(matches) != 1:
            where = f"under '{found['name']}'" if found else "at the top of what you can see"
            problem = "no asset" if not matches else f"{len(matches)} assets"
            raise fail(f"{problem} named '{name}' {where}: give the asset id instead")
        found = matches[0]
        level = found["children"]
    if found is None:
        raise fail("give an asset id or path")
    return str(found["id"])


def _secrets(
    username: str | None,
    password_file: Path | None,
    ask_password: bool,
    private_key_file: Path | None,
    passphrase_file: Path | None,
) -> dict[str, str]:
    values: dict[str, str | None] = {"username": username}
    if password_file is not None:
        values["password"] = next(iter(password_file.read_text().splitlines()), "")
    elif ask_password:
        values["password"] = typer.prompt("Password", hide_input=True)
    if private_key_file is not None:
        values["private_key"] = private_key_file.read_text()
    if passphrase_file is not None:
        values["passphrase"] = next(iter(passphrase_file.read_text().splitlines()), "")
    return {name: value for name, value in values.items() if value is not None}


def _properties(host: str | None, port: int | None, https: bool | None) -> dict[str, Any]:
    given = {"host": host, "port": port, "use_https": https}
    return {name: value for name, value in given.items() if value is not None}


def _row(asset: dict[str, Any]) -> dict[str, Any]:
    set_fields = [name for name, present in asset["secrets"].items() if present]
    return {**asset, **asset["properties"], "secrets": set_fields}


@asset_app.command("add")
def add(
    name: str,
    type: Annotated[str, typer.Option(help="container, unix-host or windows-host.")],
    parent: Annotated[str | None, typer.Option(help="Container (id or path).")] = None,
    host: Host = None,
    port: Port = None,
    https: Annotated[bool | None, typer.Option("--https/--http", help="WinRM only.")] = None,
    description: str = "",
    tag: Tags = None,
    username: Username = None,
    password_file: SecretFile = None,
    ask_password: AskPassword = False,
    private_key_file: SecretFile = None,
    passphrase_file: SecretFile = None,
) -> None:
    """Add a container or a host."""
    body = {
        "name": name,
        "type": type,
        "parent_id": resolve(parent) if parent else None,
        "properties": _properties(host, port, https),
        "description": description,
        "tags": tag or [],
        "secrets": _secrets(
            username, password_file, ask_password, private_key_file, passphrase_file
        ),
    }
    show(request("POST", "assets", body=body))


@asset_app.command("list")
def list_(
    parent: Annotated[str | None, typer.Option(help="Only the children of this container.")] = None,
    type: Annotated[str | None, typer.Option(help="Only assets of this type.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only assets with this tag.")] = None,
    tree: Annotated[bool, typer.Option(help="Show the containers as a tree.")] = False,
) -> None:
    """The assets you may view."""
    if tree:
        root = Tree("assets")
        _grow(root, request("GET", "assets/tree"))
        console.print(root)
        return
    params = {"parent_id": resolve(parent) if parent else None, "type": type, "tag": tag}
    found = request("GET", "assets", params={k: v for k, v in params.items() if v})
    table([_row(asset) for asset in found], COLUMNS)


def _grow(branch: Tree, nodes: list[dict[str, Any]]) -> None:
    for node in nodes:
        label = f"{node['name']}  [dim]{node['type']} · {node['role']} · {node['id']}[/dim]"
        _grow(branch.add(label), node["children"])


@asset_app.command("show")
def show_(ref: Ref) -> None:
    """An asset with its properties, your role and which vault fields are set."""
    show(request("GET", f"assets/{resolve(ref)}"))


@asset_app.command("edit")
def edit(
    ref: Ref,
    name: Annotated[str | None, typer.Option(help="Rename.")] = None,
    host: Host = None,
    port: Port = None,
    https: Annotated[bool | None, typer.Option("--https/--http", help="WinRM only.")] = None,
    description: str | None = None,
    tag: Tags = None,
    username: Username = None,
    password_file: SecretFile = None,
    ask_password: AskPassword = False,
    private_key_file: SecretFile = None,
    passphrase_file: SecretFile = None,
) -> None:
    """Rename, change properties or tags, or set vault fields."""
    body: dict[str, Any] = {"name": name, "description": description, "tags": tag}
    body = {key: value for key, value in body.items() if value is not None}
    properties = _properties(host, port, https)
    secrets = _secrets(username, password_file, ask_password, private_key_file, passphrase_file)
    if properties:
        body["properties"] = properties
    if secrets:
        body["secrets"] = secrets
    show(request("PATCH", f"assets/{resolve(ref)}", body=body))


@asset_app.command("move")
def move(
    ref: Ref,
    to: Annotated[str | None, typer.Option(help="Destination container (id or path).")] = None,
    top: Annotated[bool, typer.Option(help="Move to the top of the library.")] = False,
) -> None:
    """Move an asset or container (with everything in it)."""
    if (to is None) == (not top):
        raise fail("give either --to CONTAINER or --top")
    asset_id = resolve(ref)
    moved = request("PATCH", f"assets/{asset_id}", body={"parent_id": resolve(to) if to else None})
    typer.echo(f"moved '{moved['name']}'")


@asset_app.command("rm")
def rm(
    ref: Ref,
    recursive: Annotated[bool, typer.Option(help="Also delete what a container holds.")] = False,
    yes: Yes = False,
) -> None:
    """Delete an asset, or a container (non-empty ones need --recursive)."""
    asset_id = resolve(ref)
    what = "and everything in it " if recursive else ""
    confirm(yes, f"Delete {ref} {what}with its secrets and permissions?")
    gone = request("DELETE", f"assets/{asset_id}", params={"recursive": recursive})
    typer.echo(
        f"deleted '{gone['name']}' with {gone['deleted_assets']} assets and "
        f"{gone['deleted_containers']} containers inside"
    )


@asset_app.command("grant")
def grant(
    ref: Ref,
    user: str,
    role: Annotated[str, typer.Argument(help="viewer, operator, asset-manager or owner.")],
) -> None:
    """Give a user a role on an asset or container (and everything below it)."""
    show(
        request(
            "POST", f"assets/{resolve(ref)}/permissions", body={"principal": user, "role": role}
        )
    )


@asset_app.command("revoke")
def revoke(ref: Ref, grant_id: str) -> None:
    """Remove a grant made on this asset (see `permissions` for ids)."""
    request("DELETE", f"assets/{resolve(ref)}/permissions/{grant_id}")
    typer.echo("revoked")


@asset_app.command("permissions")
def permissions(ref: Ref) -> None:
    """Grants on the asset and those inherited from its containers."""
    rows = request("GET", f"assets/{resolve(ref)}/permissions")
    for row in rows:
        source = row["inherited_from"]
        row["from"] = f"{source['name']} ({source['id']})" if source else "(this asset)"
    table(rows, ["id", "principal", "role", "from"])


@asset_app.command("access")
def access(ref: Ref) -> None:
    """Your effective role on the asset and what it lets you do."""
    show(request("GET", f"assets/{resolve(ref)}/access"))


@vault_app.command("status")
def vault_status() -> None:
    """Key versions and how many sealed values each one encrypts."""
    show(request("GET", "vault"))


@vault_app.command("verify")
def vault_verify() -> None:
    """Decrypt every sealed value of the tenant and list any that fail."""
    found = request("POST", "vault/verify")
    show(found)
    if found["unreadable"]:
        raise typer.Exit(1)


@vault_app.command("rotate")
def vault_rotate(yes: Yes = False) -> None:
    """Re-encrypt every secret of the tenant under a new key, then drop the old key."""
    confirm(yes, "Rotate the tenant key? Back up the key ring file afterwards.")
    show(request("POST", "vault/rotate"))


def register_asset_commands(app: typer.Typer) -> None:
    app.add_typer(asset_app, name="asset")
    app.add_typer(vault_app, name="vault")
