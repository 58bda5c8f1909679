"""Running the `pamnode` command the way an administrator's shell does."""

from __future__ import annotations

import subprocess
import sys


def run_cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "pamnode", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    if check:
        assert result.returncode == 0, f"pamnode {' '.join(args)}: {result.stderr}"
    return result
