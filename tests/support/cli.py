"""Running the `pamnode` command the way an administrator's shell does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from pamnode.lab.served_node import ServedNode
from pamnode.lab.zygote import Zygote

# Set for the test run by tests/conftest.py: run_cli's commands are forked from it.
_zygote: Zygote | None = None


def use_zygote(zygote: Zygote | None) -> None:
    global _zygote
    _zygote = zygote


def run_cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    if _zygote is not None:
        result = _zygote.run(list(args), env, timeout=60)
    else:
        result = subprocess.run(
            [sys.executable, "-m", "pamnode", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    return _checked(result, args, check)


def run_cli_here(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`run_cli` in this process, through typer's runner: the same command, environment,
    output streams (none a terminal) and exit code, an empty stdin, no process start. Not for
    what only a process has: signals, prompts at a terminal, a PTY."""
    # Here, not at the top: the CLI's modules, which the fast tier never needs.
    from typer.testing import CliRunner

    from pamnode.cli.main import app

    result = CliRunner().invoke(app, list(args), env=env, prog_name="pamnode")
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # A process would die printing the traceback, and the test should show it.
        stderr += "".join(traceback.format_exception(result.exception))
    completed = subprocess.CompletedProcess(
        ["pamnode", *args], result.exit_code, result.stdout, stderr
    )
    return _checked(completed, args, check)


def _checked(
    result: subprocess.CompletedProcess[str], args: tuple[str, ...], check: bool
) -> subprocess.CompletedProcess[str]:
    if check:
        assert result.returncode == 0, f"pamnode {' '.join(args)}: {result.stderr}"
    return result


def start_cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """`pamnode …` left running, its output readable line by line as it comes.

    Ctrl-C (SIGINT) reaches it as at a terminal even when the tests run in the background,
    where the shell starts them with SIGINT ignored and every child would inherit that."""
    return subprocess.Popen(
        [sys.executable, "-m", "pamnode", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        preexec_fn=_interruptible,
    )


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_env(config_dir: Path, lines: int = 24) -> dict[str, str]:
    """An environment of its own for the CLI's stored login; a terminal size fixed wide enough
    that Rich tables do not wrap the cells we look for, and `lines` high."""
    return {
        **os.environ,
        "PAMNODE_CONFIG_DIR": str(config_dir),
        "COLUMNS": "250",
        "LINES": str(lines),
    }


def log_in(
    env: dict[str, str],
    node: ServedNode,
    tenant: str,
    login: str,
    password_file: Path,
    run: Callable[..., subprocess.CompletedProcess[str]] = run_cli,
) -> None:
    """`pamnode login` with the node's certificate; `run`: run_cli or run_cli_here."""
    url = f"{node.base_url}/ztna/{tenant}/root"
    run(
        env,
        "login",
        url,
        "--user",
        login,
        "--password-file",
        str(password_file),
        "--ca-file",
        str(node.cert_path),
    )
