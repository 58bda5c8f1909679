"""`pamnode backup` and `pamnode restore`: a data directory with its key ring, in one archive."""

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from pamnode.app import backup as archives
from pamnode.app.data_dir import UMASK
from pamnode.app.tls import certificate_der
from pamnode.cli.client import fail
from pamnode.cli.options import DatabaseUrl, DataDir, local_settings
from pamnode.cli.output import Yes, confirm
from pamnode.core.errors import PamError
from pamnode.crypto.fingerprints import fingerprint

T = TypeVar("T")


def backup(
    data: DataDir,
    to: Annotated[Path, typer.Option("--to", help="Archive to write (tar.gz, mode 0600).")],
    database_url: DatabaseUrl = None,
) -> None:
    """Back up a data directory with its key ring; SQLite is copied online, while the node
    runs. A PostgreSQL database is dumped with pg_dump beside it (the command is printed)."""
    os.umask(UMASK)
    settings = local_settings(data, database_url)
    archive = _or_fail(lambda: archives.backup(settings, to))
    typer.echo(f"backup of {data} written to {to} (mode 0600): {archive.described()}")
    if archive.key_ring_sealed:
        typer.echo(
            "The key ring is sealed in the database under the key-encryption key: keep a copy "
            "of PAMNODE_KEK apart from this archive and the database's dumps; without it, no "
            "secret of the database opens."
        )
    else:
        typer.echo(
            "It holds the key ring, which opens every secret in the database: keep it as "
            "private as the data directory (encrypt it before it leaves this machine)."
        )
    if not archive.holds_database:
        typer.echo(
            f"The database ({archive.database}) is not in this archive. Dump it now, with no "
            f"key rotation between the two (password from PGPASSWORD or ~/.pgpass):\n"
            f"  {archives.pg_dump_command(settings)}"
        )


def restore(
    source: Annotated[Path, typer.Option("--from", help="Archive written by pamnode backup.")],
    data: DataDir,
    force: Annotated[
        bool, typer.Option(help="Replace the database and key ring the data directory holds.")
    ] = False,
    yes: Yes = False,
) -> None:
    """Restore a data directory from a backup; every file is checked against the archive's
    manifest before anything in the data directory is replaced."""
    there = archives.occupied(data)
    if there and force:
        confirm(
            yes,
            f"Replace {' and '.join(there)} in {data} with the backup's? "
            "Stop the node that uses it first.",
        )
    os.umask(UMASK)
    archive = _or_fail(lambda: archives.restore(source, data, force))
    typer.echo(
        f"restored {source} (pamnode {archive.pamnode_version}, {archive.created_at}) into "
        f"{data}: {archive.described()}; every file matched the manifest's checksums"
    )
    cert = data / "tls" / "cert.pem"
    if cert.is_file():
        typer.echo(
            f"The node presents its certificate as before (SHA-256 "
            f"{fingerprint(certificate_der(cert))}): peers and clients that pinned it trust it."
        )
    typer.echo("Next:")
    if archive.key_ring_sealed:
        typer.echo(
            "  start the node with PAMNODE_KEK or PAMNODE_KEK_FILE: the key ring is sealed in "
            "the database under that key-encryption key"
        )
    shared = local_settings(data, None).keyring_file
    if shared is not None:
        typer.echo(
            f"  copy {data / archives.KEYRING} to {shared} (PAMNODE_KEYRING_FILE, mode 0600), "
            "where every node sharing it reads it"
        )
    if archive.holds_database:
        typer.echo(f"  pamnode serve --data {data}   (with the node name, address and port it had)")
        return
    typer.echo(
        f"  restore the {archive.database} database from the dump taken with this backup:\n"
        "    pg_restore --clean --if-exists --no-owner --dbname 'postgresql://USER@HOST/DB' "
        "pamnode.dump\n"
        f"  pamnode serve --data {data} --database-url 'postgresql+asyncpg://USER@HOST/DB'"
    )


def _or_fail(work: Callable[[], T]) -> T:
    """The work's result, or why it failed in one line: the archive or directory the user named
    may also be unreadable or unwritable."""
    try:
        return work()
    except PamError as exc:
        raise fail(exc.message) from None
    except OSError as exc:
        raise fail(str(exc)) from None


def register_backup_commands(app: typer.Typer) -> None:
    app.command()(backup)
    app.command()(restore)
