"""`pamnode vault keyring import`: move a node's key ring file into its database, sealed under
the key-encryption key every main node of that database reads (docs/operations.md)."""

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from pamnode.cli.client import fail
from pamnode.cli.options import DatabaseUrl, DataDir, local_settings
from pamnode.cli.output import Yes, confirm
from pamnode.core.errors import PamError

keyring_app = typer.Typer(
    help="Where the vault's key ring is kept: a file, or sealed in the database under a KEK.",
    no_args_is_help=True,
)


@keyring_app.command("import")
def import_file(
    data: DataDir,
    database_url: DatabaseUrl = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="The key ring file (default: PAMNODE_KEYRING_FILE, else DATA/keyring.json).",
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(help="Replace the key ring the database holds already (same KEK)."),
    ] = False,
    yes: Yes = False,
) -> None:
    """Seal the key ring file into the database under PAMNODE_KEK (or PAMNODE_KEK_FILE), once
    it is shown to be this database's: every sealed value opens with it."""
    # Here, not at the top: the database layer weighs more than every remote command.
    from pamnode.app.key_ring import import_key_ring

    settings = local_settings(data, database_url)
    path = source or settings.resolved_keyring_file
    if replace:
        confirm(
            yes,
            f"Replace the key ring sealed in the database with {path}'s? Stop every main node "
            "of this database first.",
        )
    try:
        done = asyncio.run(import_key_ring(settings, path, replace))
    except PamError as exc:
        raise fail(exc.message) from None
    typer.echo(
        f"{'replaced the' if done.replaced else 'the'} key ring sealed in the database with "
        f"{path}'s ({done.tenants} tenant(s)), under the key-encryption key {done.kek_id}."
    )
    typer.echo(
        "Start every main node of this database with the same PAMNODE_KEK or PAMNODE_KEK_FILE: "
        f"{path} is no longer read. Keep a copy of it offline with your backups, or delete it; "
        "keep the key-encryption key apart from the database's backups."
    )
