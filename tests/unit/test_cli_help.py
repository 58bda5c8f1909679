"""Every `pamnode` command and every one of its options and arguments says what it is for in
`--help`."""

from __future__ import annotations

from typing import Any

import typer.main

from pamnode.cli.main import app


def _commands(command: Any, path: str) -> list[tuple[str, Any]]:
    """The command and those below it (Typer carries its own Click: no Click types here)."""
    found = [(path, command)]
    if hasattr(command, "list_commands"):
        context = command.context_class(command)
        for name in command.list_commands(context):
            found.extend(_commands(command.get_command(context, name), f"{path} {name}"))
    return found


def test_every_command_and_parameter_has_help():
    commands = _commands(typer.main.get_command(app), "pamnode")
    assert len(commands) > 60
    silent = [path for path, command in commands if not (command.help or "").strip()]
    silent += [
        f"{path} {param.name}"
        for path, command in commands
        for param in command.params
        if not (getattr(param, "help", None) or "").strip()
    ]
    assert silent == []
