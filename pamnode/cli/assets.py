"""`pamnode asset …` and `pamnode vault …`: the asset library and its vault from a shell.

Assets are named by id, by path (`dc1/linux/web-01`, through the containers the caller
sees) or by a name only one of them has (`cli/refs.py`). Secret values come from files or
a hidden prompt, never from the command line.
"""

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.tree import Tree

from pamnode.cli.client import fail, request
from pamnode.cli.keyring import keyring_app
from pamnode.cli.output import Json, Yes, confirm, print_whole, show, table
from pamnode.cli.refs import PERMISSION, pick, resolve_asset

asset_app = typer.Typer(help="The asset library of the current site.", no_args_is_help=True)
vault_app = typer.Typer(help="The tenant's key and sealed secrets.", no_args_is_help=True)
vault_app.add_typer(keyring_app, name="keyring")

COLUMNS = ["id", "name", "type", "host", "port", "role", "secrets"]

Ref = Annotated[
    str, typer.Argument(help="The asset: its id, its path (dc1/linux/web-01) or its name.")
]
Host = Annotated[str | None, typer.Option(help="DNS name or IP address.")]
Port = Annotated[int | None, typer.Option(help="Default: 22 (SSH), 5985/5986 (WinRM).")]
Https = Annotated[
    bool | None, typer.Option("--https/--http", help="WinRM only: HTTPS (5986) or HTTP (5985).")
]
Protocol = Annotated[
    str | None,
    typer.Option(
        help="Remote sessions (Access): ssh, rdp or vnc. Default: ssh on a unix-host, rdp on a "
        "windows-host."
    ),
]
SessionPort = Annotated[
    int | None,
    typer.Option(
        help="Remote sessions: the port they connect to. Default: the protocol's own (22, 3389, "
        "5900), or --port for SSH to a unix-host."
    ),
]
Tags = Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeat for more).")]
Username = Annotated[str | None, typer.Option(help="Vault: the account to log in with.")]
PasswordFile = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, help="Vault: file holding the password."),
]
AskPassword = Annotated[bool, typer.Option(help="Vault: prompt for the password.")]
PrivateKeyFile = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, help="Vault: file holding an SSH private key."),
]
PassphraseFile = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, help="Vault: file holding the key's passphrase."),
]


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


def _properties(
    host: str | None,
    port: int | None,
    https: bool | None,
    protocol: str | None,
    session_port: int | None,
) -> dict[str, Any]:
    given = {
        "host": host,
        "port": port,
        "use_https": https,
        "protocol": protocol,
        "session_port": session_port,
    }
    return {name: value for name, value in given.items() if value is not None}


def _row(asset: dict[str, Any]) -> dict[str, Any]:
    set_fields = [name for name, present in asset["secrets"].items() if present]
    return {**asset, **asset["properties"], "secrets": set_fields}


@asset_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Name, unique in its container.")],
    type: Annotated[str, typer.Option(help="container, unix-host or windows-host.")],
    parent: Annotated[
        str | None, typer.Option(help="Container to add it to (id, path or name).")
    ] = None,
    host: Host = None,
    port: Port = None,
    https: Https = None,
    protocol: Protocol = None,
    session_port: SessionPort = None,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    tag: Tags = None,
    username: Username = None,
    password_file: PasswordFile = None,
    ask_password: AskPassword = False,
    private_key_file: PrivateKeyFile = None,
    passphrase_file: PassphraseFile = None,
    as_json: Json = False,
) -> None:
    """Add a container or a host."""
    body = {
        "name": name,
        "type": type,
        "parent_id": resolve_asset(parent) if parent else None,
        "properties": _properties(host, port, https, protocol, session_port),
        "description": description,
        "tags": tag or [],
        "secrets": _secrets(
            username, password_file, ask_password, private_key_file, passphrase_file
        ),
    }
    show(request("POST", "assets", body=body), as_json)


@asset_app.command("list")
def list_(
    parent: Annotated[
        str | None, typer.Option(help="Only the children of this container (id, path or name).")
    ] = None,
    type: Annotated[str | None, typer.Option(help="Only assets of this type.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only assets with this tag.")] = None,
    tree: Annotated[bool, typer.Option(help="Show the containers as a tree.")] = False,
    as_json: Json = False,
) -> None:
    """The assets you may view."""
    if tree:
        nodes = request("GET", "assets/tree")
        if as_json:
            show(nodes, as_json)
            return
        root = Tree("assets")
        _grow(root, nodes)
        print_whole(root)
        return
    params = {"parent_id": resolve_asset(parent) if parent else None, "type": type, "tag": tag}
    found = request("GET", "assets", params={k: v for k, v in params.items() if v})
    table([_row(asset) for asset in found], COLUMNS, as_json, found)


def _grow(branch: Tree, nodes: list[dict[str, Any]]) -> None:
    for node in nodes:
        label = f"{node['name']}  [dim]{node['type']} · {node['role']} · {node['id']}[/dim]"
        _grow(branch.add(label), node["children"])


@asset_app.command("show")
def show_(ref: Ref, as_json: Json = False) -> None:
    """An asset with its properties, your role and which vault fields are set."""
    show(request("GET", f"assets/{resolve_asset(ref)}"), as_json)


@asset_app.command("edit")
def edit(
    ref: Ref,
    name: Annotated[str | None, typer.Option(help="Rename.")] = None,
    host: Host = None,
    port: Port = None,
    https: Https = None,
    protocol: Protocol = None,
    session_port: SessionPort = None,
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Replace the tags (repeat for more).")
    ] = None,
    username: Username = None,
    password_file: PasswordFile = None,
    ask_password: AskPassword = False,
    private_key_file: PrivateKeyFile = None,
    passphrase_file: PassphraseFile = None,
    as_json: Json = False,
) -> None:
    """Rename, change properties or tags, or set vault fields.

    A new host, port or transport takes the vault's password and key again in the same
    command (--password-file or --ask-password, --private-key-file): a secret goes only to
    the destination it was entered for."""
    body: dict[str, Any] = {"name": name, "description": description, "tags": tag}
    body = {key: value for key, value in body.items() if value is not None}
    properties = _properties(host, port, https, protocol, session_port)
    secrets = _secrets(username, password_file, ask_password, private_key_file, passphrase_file)
    if properties:
        body["properties"] = properties
    if secrets:
        body["secrets"] = secrets
    show(request("PATCH", f"assets/{resolve_asset(ref)}", body=body), as_json)


@asset_app.command("move")
def move(
    ref: Ref,
    to: Annotated[
        str | None, typer.Option(help="Destination container (id, path or name).")
    ] = None,
    top: Annotated[bool, typer.Option(help="Move to the top of the library.")] = False,
) -> None:
    """Move an asset or container (with everything in it)."""
    if (to is None) == (not top):
        raise fail("give either --to CONTAINER or --top")
    asset_id = resolve_asset(ref)
    body = {"parent_id": resolve_asset(to) if to else None}
    moved = request("PATCH", f"assets/{asset_id}", body=body)
    typer.echo(f"moved '{moved['name']}'")


@asset_app.command("rm")
def rm(
    ref: Ref,
    recursive: Annotated[bool, typer.Option(help="Also delete what a container holds.")] = False,
    yes: Yes = False,
) -> None:
    """Delete an asset, or a container (non-empty ones need --recursive)."""
    asset_id = resolve_asset(ref)
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
    user: Annotated[str, typer.Argument(help="Login of the user.")],
    role: Annotated[str, typer.Argument(help="viewer, operator, asset-manager or owner.")],
    as_json: Json = False,
) -> None:
    """Give a user a role on an asset or container (and everything below it)."""
    body = {"principal": user, "role": role}
    show(request("POST", f"assets/{resolve_asset(ref)}/permissions", body=body), as_json)


@asset_app.command("revoke")
def revoke(
    ref: Ref,
    grant: Annotated[
        str, typer.Argument(help="The grant made on this asset: its id or the user's login.")
    ],
) -> None:
    """Remove a grant made on this asset (see `permissions`)."""
    asset_id = resolve_asset(ref)
    made_here = [
        row
        for row in request("GET", f"assets/{asset_id}/permissions")
        if row["inherited_from"] is None
    ]
    grant_id = pick(PERMISSION, grant, made_here)["id"]
    request("DELETE", f"assets/{asset_id}/permissions/{grant_id}")
    typer.echo("revoked")


@asset_app.command("permissions")
def permissions(ref: Ref, as_json: Json = False) -> None:
    """Grants on the asset and those inherited from its containers."""
    found = request("GET", f"assets/{resolve_asset(ref)}/permissions")
    rows = [{**row, "from": _source(row["inherited_from"])} for row in found]
    table(rows, ["id", "principal", "role", "from"], as_json, found)


def _source(container: dict[str, Any] | None) -> str:
    return f"{container['name']} ({container['id']})" if container else "(this asset)"


@asset_app.command("access")
def access(ref: Ref, as_json: Json = False) -> None:
    """Your effective role on the asset and what it lets you do."""
    show(request("GET", f"assets/{resolve_asset(ref)}/access"), as_json)


@vault_app.command("status")
def vault_status(as_json: Json = False) -> None:
    """Key versions and how many sealed values each one encrypts."""
    show(request("GET", "vault"), as_json)


@vault_app.command("verify")
def vault_verify(as_json: Json = False) -> None:
    """Decrypt every sealed value of the tenant and list any that fail."""
    found = request("POST", "vault/verify")
    show(found, as_json)
    if found["unreadable"]:
        raise typer.Exit(1)


@vault_app.command("rotate")
def vault_rotate(yes: Yes = False, as_json: Json = False) -> None:
    """Re-encrypt every secret of the tenant under a new key, then drop the old key."""
    confirm(yes, "Rotate the tenant key? Back up the key ring file afterwards.")
    show(request("POST", "vault/rotate"), as_json)


def register_asset_commands(app: typer.Typer) -> None:
    app.add_typer(asset_app, name="asset")
    app.add_typer(vault_app, name="vault")
