"""Options that several commands run on this machine share."""

from pathlib import Path
from typing import Annotated

import typer

from pamnode.app.settings import Settings

DataDir = Annotated[Path, typer.Option("--data", help="Data directory (key ring, TLS, SQLite).")]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="postgresql+asyncpg://… (default: SQLite in --data)."),
]


def local_settings(data: Path, database_url: str | None) -> Settings:
    """The settings of the node whose data directory this is (PAMNODE_* as `serve` reads
    them), with what the command line gives."""
    overrides: dict[str, object] = {"data_dir": data}
    if database_url:
        overrides["database_url"] = database_url
    return Settings(**overrides)  # type: ignore[arg-type]
