"""How the CLI shows what the API answered, and asks before destructive verbs."""

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()

Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def secret_from(file: Path | None, prompt: str) -> str:
    if file is not None:
        return next(iter(file.read_text().splitlines()), "")
    return str(typer.prompt(prompt, hide_input=True))


def table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(*columns)
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def show(data: Any) -> None:
    console.print_json(json.dumps(data))


def confirm(yes: bool, question: str) -> None:
    if not yes and not typer.confirm(question):
        raise typer.Abort()
