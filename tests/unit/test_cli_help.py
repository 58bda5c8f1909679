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


def _callbacks(typer_app: typer.Typer, path: str) -> dict[str, Any]:
    """Each command's own function, by its path (Click's callback is Typer's wrapper)."""
    found = {
        f"{path} {info.name or info.callback.__name__.replace('_', '-')}": info.callback
        for info in typer_app.registered_commands
        if info.callback is not None
    }
    for group in typer_app.registered_groups:
        assert group.typer_instance is not None
        found.update(_callbacks(group.typer_instance, f"{path} {group.name}"))
    return found


def test_every_command_that_prints_an_answer_takes_json():
    """A command that shows what the API answered (`show` or `table`) can print it as JSON
    for a script; without `--json` it prints a table for people."""
    callbacks = _callbacks(app, "pamnode")
    commands = dict(_commands(typer.main.get_command(app), "pamnode"))
    printing = [
        path
        for path, callback in callbacks.items()
        if {"show", "table"} & set(callback.__code__.co_names)
    ]
    assert len(printing) > 40
    missing = [
        path
        for path in printing
        if not any("--json" in getattr(p, "opts", ()) for p in commands[path].params)
    ]
    assert missing == []
