"""Throwaway Unix accounts for lab servers (sshd, xrdp), and the processes they run.

Each account is made for one server alone, so its processes are ones that server's test
started: ending them by PID before `userdel` touches nothing else on the machine.
"""

import contextlib
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

STOP_TIMEOUT = 10.0


def run(argv: list[str], stdin: str | None = None) -> None:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        # The argv never holds a secret (passwords go through stdin), so it can be shown.
        raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")


def live_pids(field: str, value: int) -> list[int]:
    """Processes whose /proc status `field` (Uid, NSpgid) is `value`, zombies left out."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue  # ended meanwhile
        fields = dict(line.split(":", 1) for line in lines if ":" in line)
        # A zombie can be signalled no further, holds no socket and keeps no session alive.
        if fields[field].split()[0] == str(value) and fields["State"].split()[0] != "Z":
            pids.append(int(status.parent.name))
    return pids


def make_user(user: str, password: str) -> None:
    run(["useradd", "--create-home", "--shell", "/bin/sh", user])
    # A new account is locked; a password unlocks it for password auth and keys alike.
    run(["chpasswd"], stdin=f"{user}:{password}\n")


def user_pids(user: str) -> list[int]:
    return live_pids("Uid", pwd.getpwnam(user).pw_uid)


def remove_user(user: str) -> None:
    """Kill what the account still runs (a script past its timeout, a closing session), then
    delete it with its home directory; userdel refuses while it has processes."""
    deadline = time.monotonic() + STOP_TIMEOUT
    while True:
        for pid in user_pids(user):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            run(["userdel", "-r", user])
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
