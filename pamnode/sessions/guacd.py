"""This node's guacd: started on first use, on a free loopback port, as a child of the node.

guacd authenticates nobody and writes files wherever its `connect` says, so it is kept on a
short leash (docs/security.md): it listens on loopback only; it runs in the recordings
directory and is only ever given a session's UUID as the path to write to (sessions/ids.py);
on a node running as root it runs as an unprivileged user that may write there and nowhere
else in the data directory; it dies with the node, even one killed by SIGKILL (the kernel's
parent-death signal); and a node that starts ends a guacd a killed node of the same data
directory left behind (its pidfile, checked to name that guacd before anything is killed).
"""

import asyncio
import contextlib
import ctypes
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pamnode.core.errors import Unavailable
from pamnode.sessions.guacamole.stream import GuacStream

log = logging.getLogger("pamnode.sessions.guacd")

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
# In guacd's environment: which data directory's guacd it is, so that a later node tells its
# own leftover from any other process a stale pidfile may name.
MARKER = "PAMNODE_GUACD_OF"
# Where a node running as root runs guacd when its own user does not exist (docs/operations.md).
FALLBACK_USER = "nobody"
_PR_SET_PDEATHSIG = 1
# FreeRDP keeps state in its user's home, which must be writable and absolute: a directory in
# guacd's working directory (not a session's id, so never taken for a recording), reached
# through /proc/self/cwd because the recordings directory's own path crosses the data
# directory, closed to guacd's user.
HOME_NAME = ".guacd-home"
HOME = f"/proc/self/cwd/{HOME_NAME}"


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _in_child(parent: int, directory: Path, account: "Account | None") -> None:
    """Before exec, in this order (uvloop, which serves the node, takes no `user` argument):
    enter the recordings directory while the data directory above it may still be crossed,
    give up root, make guacd's home as its user, and then ask the kernel to kill guacd when
    the node's thread that started it ends, however the node ends (a change of user clears
    that request, so it comes last)."""
    os.chdir(directory)
    if account is not None:
        os.setgroups([])
        os.setgid(account.gid)
        os.setuid(account.uid)
    with contextlib.suppress(FileExistsError):
        os.mkdir(HOME_NAME, 0o700)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # The node may have died between fork and prctl: then nobody would ever send the signal.
    if os.getppid() != parent:
        os._exit(1)


@dataclass(frozen=True)
class Account:
    """The user guacd runs as when the node runs as root."""

    name: str
    uid: int
    gid: int

    @classmethod
    def named(cls, wanted: str) -> "Account":
        for name in (wanted, FALLBACK_USER):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                log.warning("guacd's user %r does not exist on this machine", name)
                continue
            return cls(name, entry.pw_uid, entry.pw_gid)
        raise Unavailable(
            f"the node runs as root and neither guacd's user '{wanted}' nor "
            f"'{FALLBACK_USER}' exists: create '{wanted}' (see docs/operations.md)",
            code="guacd_missing",
        )


def _process_of(pid: int, binary_name: str, data_dir: str) -> bool:
    """Whether `pid` is a guacd started for `data_dir`, and not whatever took its pid since."""
    proc = Path("/proc") / str(pid)
    try:
        argv0 = (proc / "cmdline").read_bytes().split(b"\0", 1)[0].decode()
        environ = (proc / "environ").read_bytes().split(b"\0")
    except (OSError, UnicodeDecodeError):
        return False
    return Path(argv0).name == binary_name and f"{MARKER}={data_dir}".encode() in environ


class Guacd:
    def __init__(self, command: str, data_dir: Path, recordings_dir: Path, user: str) -> None:
        self.command = command
        self.data_dir = data_dir.resolve()
        self.recordings_dir = recordings_dir
        self.log_path = self.data_dir / "logs" / "guacd.log"
        self.pid_path = self.data_dir / "guacd.pid"
        self.user = user
        self.port: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}" if self.port else "127.0.0.1 (guacd not started)"

    async def connect(self) -> GuacStream:
        await self._ensure_started()
        assert self.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        return GuacStream(reader, writer)

    def end_leftover(self) -> None:
        """End the guacd a node of this data directory left running (killed before it could
        stop it), if the pidfile names one; a pid that is anything else is left alone."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return
        if _process_of(pid, Path(self.command).name, str(self.data_dir)):
            log.warning("ending guacd (pid %d) that a previous run of this node left behind", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.pid_path.unlink(missing_ok=True)

    async def _ensure_started(self) -> None:
        async with self._lock:
            if self._proc is not None and self._proc.returncode is None:
                return
            binary = shutil.which(self.command)
            if binary is None:
                raise Unavailable(
                    f"guacd ('{self.command}') is not installed on this node, so it cannot carry "
                    "remote sessions: install Debian's guacd (see the README)",
                    code="guacd_missing",
                )
            account = self._account()
            port = _free_loopback_port()
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as log_file:
                self._proc = await asyncio.create_subprocess_exec(
                    binary,
                    *("-f", "-b", "127.0.0.1", "-l", str(port), "-L", "info"),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    # Not the node's environment: it holds the node's settings.
                    env={"PATH": os.defpath, "HOME": HOME, MARKER: str(self.data_dir)},
                    # Recording paths are relative to its working directory: a session's id.
                    preexec_fn=partial(_in_child, os.getpid(), self.recordings_dir, account),
                )
            self.pid_path.write_text(f"{self._proc.pid}\n")
            await self._wait_listening(port)
            self.port = port

    def _account(self) -> Account | None:
        """As root, guacd's own user, made owner of the recordings directory and of nothing
        else (guacd enters it as root, so the data directory above stays closed to it)."""
        if os.geteuid() != 0:
            return None
        account = Account.named(self.user)
        os.chown(self.recordings_dir, account.uid, account.gid)
        return account

    async def _wait_listening(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        assert self._proc is not None
        while loop.time() < deadline:
            if self._proc.returncode is not None:
                break
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise Unavailable(
            f"guacd did not start listening on 127.0.0.1:{port}; see {self.log_path}",
            code="guacd_missing",
        )

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self.pid_path.unlink(missing_ok=True)
        if proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
