"""What every real server of the lab shares (sshd, slapd, Xvnc, xrdp): where it listens, a private
working directory for its files and logs, start-or-undo, and use as a context manager.

A server checks what it needs (`_require`, raising LabUnavailable), sets itself up in its
directory (`_setup`: files, a throwaway Unix user, the processes) and ends its processes in
`_stop_processes`; `stop` undoes everything, also after a setup that failed halfway.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import IO, ClassVar, Protocol, Self

from pamnode.lab.accounts import make_user, remove_user

STOP_TIMEOUT_S = 10.0


class Process(Protocol):
    """What the lab uses of a process it started: `subprocess.Popen`, or a child of the
    zygote (`zygote.ForkedProcess`)."""

    pid: int

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def send_signal(self, sig: int) -> None: ...
    def kill(self) -> None: ...


def end_process(proc: Process | None) -> None:
    """SIGTERM (a server cleans up its locks and sockets), then SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)


class LabServer:
    # The working directory's name prefix, e.g. "pamnode-sshd-".
    PREFIX: ClassVar[str]

    def __init__(self, address: str, port: int, netns: str | None = None) -> None:
        self.address = address
        self.port = port
        self.netns = netns
        self.dir: Path | None = None
        # The Unix account this server made, removed at stop.
        self._user_made: str | None = None

    def _path(self, name: str) -> Path:
        assert self.dir is not None, "server not started"
        return self.dir / name

    def _read(self, name: str) -> str:
        """A file of the working directory, or "" before start or when it is not written."""
        try:
            return self._path(name).read_text(errors="replace")
        except (AssertionError, FileNotFoundError):
            return ""

    def _require(self) -> None:
        """Raise LabUnavailable when a binary or privilege this server needs is missing."""

    def _setup(self) -> None:
        raise NotImplementedError

    def _stop_processes(self) -> None:
        raise NotImplementedError

    def _make_user(self, login: str, password: str) -> None:
        make_user(login, password)
        self._user_made = login

    def start(self) -> Self:
        self._require()
        self.dir = Path(tempfile.mkdtemp(prefix=self.PREFIX))
        try:
            self._setup()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            self._stop_processes()
            if self._user_made is not None:
                remove_user(self._user_made)
                self._user_made = None
        finally:
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class OneProcessServer(LabServer):
    """A server that is one process writing one log file (`LOG`) in its directory."""

    LOG: ClassVar[str]

    def __init__(self, address: str, port: int, netns: str | None = None) -> None:
        super().__init__(address, port, netns)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self._path(self.LOG)

    def log_text(self) -> str:
        return self._read(self.LOG)

    def _launch(self, argv: list[str]) -> int:
        """Start the process, its output appended to the log; how long the log was before
        (a restart appends to the same log: only this run's lines count)."""
        since = len(self.log_text())
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        return since

    def _not_started(self, name: str) -> RuntimeError:
        exit_code = self.proc.poll() if self.proc is not None else None
        return RuntimeError(
            f"{name} on {self.address}:{self.port} did not start "
            f"(exit {exit_code}):\n{self.log_text()[-3000:]}"
        )

    def _stop_processes(self) -> None:
        end_process(self.proc)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
