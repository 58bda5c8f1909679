"""How the CLI shows what the API answered, and asks before destructive verbs.

Tables never cut an id: id columns keep their whole width and the other columns wrap; when
even that does not fit a terminal, the table is printed wider than it (the terminal wraps
the lines, the ids stay whole). Written to a pipe or a file, a table has its full width: no
cell is wrapped or cut. `--json` prints the API's answer itself instead.

Every command that prints an answer takes `--json`; without it, an object is a table of its
fields (one row each, nested values as compact JSON) and a list of objects a table of rows.
"""

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.table import Column, Table

console = Console()

Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
Json = Annotated[
    bool,
    typer.Option(
        "--json", help="Print the API's answer as JSON and nothing else (no table, no colour)."
    ),
]

# Columns whose values are whole words to copy: never wrapped or cut.
WHOLE = {"id", "node_signature"}
# Wider than any table: what a table would take if nothing bounded it.
UNBOUNDED = 1_000_000


def secret_from(file: Path | None, prompt: str) -> str:
    if file is not None:
        return next(iter(file.read_text().splitlines()), "")
    return str(typer.prompt(prompt, hide_input=True))


def table(
    rows: list[dict[str, Any]], columns: list[str], as_json: bool = False, answer: Any = None
) -> None:
    """`rows` as a table of `columns`, or with `as_json` the API's `answer` (default: the
    rows) as JSON."""
    if as_json:
        show(rows if answer is None else answer, as_json)
        return
    grid = Table(
        *(
            Column(name, no_wrap=True) if _whole(name) else Column(name, overflow="fold")
            for name in columns
        )
    )
    for row in rows:
        grid.add_row(*(_cell(row.get(column)) for column in columns))
    print_whole(grid)


def print_whole(renderable: RenderableType) -> None:
    """Print without cutting a word: on a terminal at least as wide as the narrowest
    rendering, elsewhere as wide as the widest."""
    wanted = Measurement.get(console, console.options.update(max_width=UNBOUNDED), renderable)
    width = max(console.width, wanted.minimum) if console.is_terminal else wanted.maximum
    Console(width=width, force_terminal=console.is_terminal).print(renderable)


def _whole(column: str) -> bool:
    return column in WHOLE or column.endswith("_id")


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def show(data: Any, as_json: bool = False) -> None:
    """The API's answer: a table for people, or with `as_json` the JSON itself."""
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif isinstance(data, dict):
        fields = [{"field": name, "value": _value(value)} for name, value in data.items()]
        table(fields, ["field", "value"])
    elif isinstance(data, list) and all(isinstance(row, dict) for row in data):
        columns = list(dict.fromkeys(name for row in data for name in row))
        table([{name: _value(v) for name, v in row.items()} for row in data], columns)
    else:
        typer.echo(data)


def _value(value: Any) -> str:
    """A field's value in one cell: text as it is, anything nested as compact JSON."""
    if isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
    ):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return _cell(value)


def confirm(yes: bool, question: str) -> None:
    if not yes and not typer.confirm(question):
        raise typer.Abort()
