"""The example commands of the user documentation hold: every `pamnode` line names a command
and options that exist, and every block of commands names the test that runs them for real.

A block of commands in docs/proxy.md or docs/sessions.md is followed by a line
"Tested by `tests/…/test_x.py::test_name`" (one or more); that test must exist. Running the
blocks literally would need the whole lab behind each placeholder host name; the named tests
run the same commands against real nodes, sshd and xrdp.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main

from pamnode.cli.main import app

REPO = Path(__file__).resolve().parents[2]
DOCS = ["docs/proxy.md", "docs/sessions.md"]
# What a line of a block starts with when it is a command a user types (not a diagram).
COMMANDS = ("pamnode", "ssh", "scp", "sftp", "xfreerdp", "apt-get", "useradd", "systemctl")
TESTED_BY = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _blocks(text: str) -> list[tuple[int, list[str], str]]:
    """Each fenced block: its first line number, its lines, and the paragraph after it."""
    lines = text.splitlines()
    blocks, start = [], None
    for number, line in enumerate(lines):
        if line.startswith("```"):
            if start is None:
                start = number
            else:
                after = "\n".join(lines[number + 1 : number + 4])
                blocks.append((start + 1, lines[start + 1 : number], after))
                start = None
    return blocks


def _command_blocks() -> list[tuple[str, int, list[str], str]]:
    found = []
    for doc in DOCS:
        for line_number, lines, after in _blocks((REPO / doc).read_text()):
            commands = [_command(line) for line in lines]
            if any(commands):
                found.append((doc, line_number, [c for c in commands if c], after))
    return found


def _command(line: str) -> str:
    """The command a line holds (environment assignments and comments left out), or ""."""
    if "─" in line:  # a diagram's arrow, not a command
        return ""
    words = line.split(" #", 1)[0].split()
    while words and re.match(r"^[A-Z_]+=", words[0]):
        words.pop(0)
    return " ".join(words) if words and words[0] in COMMANDS else ""


def _cli(path: list[str]) -> Any:
    command = typer.main.get_command(app)
    for word in path:
        context = command.context_class(command)
        command = command.get_command(context, word)
        assert command is not None, f"pamnode has no command {' '.join(path)!r}"
        if not hasattr(command, "list_commands"):
            return command
    return command


BLOCKS = _command_blocks()


@pytest.mark.parametrize(
    ("doc", "line", "commands", "after"), BLOCKS, ids=[f"{b[0]}:{b[1]}" for b in BLOCKS]
)
def test_each_block_of_commands_names_a_test_that_exists(doc, line, commands, after):
    named = TESTED_BY.findall(after)
    assert named, f'{doc}:{line}: the block is not followed by "Tested by `tests/…::test_…`"'
    for path, name in named:
        source = REPO / path
        assert source.is_file(), f"{doc}:{line}: {path} does not exist"
        tests = {
            node.name
            for node in ast.walk(ast.parse(source.read_text()))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        assert name in tests, f"{doc}:{line}: {path} has no {name}"


@pytest.mark.parametrize(
    ("doc", "line", "commands", "after"), BLOCKS, ids=[f"{b[0]}:{b[1]}" for b in BLOCKS]
)
def test_each_pamnode_command_and_option_exists(doc, line, commands, after):
    for text in commands:
        words = shlex.split(text)
        if words[0] != "pamnode":
            continue
        path = [w for w in words[1:3] if not w.startswith("-")]
        command = _cli(path)
        options = {o for param in command.params for o in getattr(param, "opts", ())}
        for word in words[1:]:
            if word.startswith("--"):
                assert word.split("=", 1)[0] in options, f"{doc}:{line}: {text}: no {word}"
