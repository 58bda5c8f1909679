"""`pamnode` processes forked from one interpreter that has imported pamnode already.

A `pamnode serve` or CLI process spends about 2 s of CPU importing pamnode and its libraries
before it does anything, and the test suite starts a few hundred of them. The zygote imports
once and forks a child per process. A child is a real process: its own pid, environment,
working directory and standard streams (passed over a Unix socket), signals and SIGKILL
like any other, and it runs `python -m pamnode ARGS` as a fresh interpreter would, through
the same `__main__` and the same interpreter shutdown, only without the imports. What only a
fresh interpreter shows (warnings printed while importing, `python -m` itself) is tested
with fresh interpreters (`NodeProcess(..., fresh=True)`).

    zygote = Zygote.start()            # once; imports pamnode in its own process
    child = zygote.spawn(["serve", ...], env, stdout=log_file)
    child.poll(); child.send_signal(signal.SIGTERM); child.wait(10)

The zygote is a child of the process that started it and ends with it (a parent-death
signal); its children are not, as `subprocess.Popen`'s children are not.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

# The modules a node or a CLI command imports; what the children then share.
_PRELOADED = ("pamnode.cli.main", "pamnode.app.node", "pamnode.http.app")
_READ_AT_IMPORT = {"COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE"}
_PR_SET_PDEATHSIG = 1
_START_TIMEOUT_S = 60.0
_POLL_INTERVAL_S = 0.02


class Zygote:
    """The test side: starts the zygote process and asks it for children."""

    def __init__(self, proc: subprocess.Popen[bytes], path: Path) -> None:
        self._proc = proc
        self._path = path

    @classmethod
    def start(cls) -> Zygote:
        folder = Path(tempfile.mkdtemp(prefix="pamnode-zygote-"))
        path = folder / "socket"
        # What a library reads once at import must not be the test run's: Rich's console,
        # made when pamnode.cli.output is imported, fixes its colours from whether stdout is
        # a terminal and its width from COLUMNS. Without a terminal or those variables it
        # decides at each print, from the child's own streams and environment, as a fresh
        # process whose output a test captures would.
        env = {k: v for k, v in os.environ.items() if k not in _READ_AT_IMPORT}
        proc = subprocess.Popen(
            [sys.executable, "-m", "pamnode.lab.zygote", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the zygote did not start (exit {proc.poll()})")
            time.sleep(_POLL_INTERVAL_S)
        return cls(proc, path)

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        with contextlib.suppress(OSError):
            self._path.unlink()
            self._path.parent.rmdir()

    def spawn(
        self,
        args: list[str],
        env: dict[str, str],
        stdin: int | IO[Any] | None = None,
        stdout: int | IO[Any] | None = None,
        stderr: int | IO[Any] | None = None,
    ) -> ForkedProcess:
        """`pamnode ARGS` in a child with `env`; each stream is a file (or descriptor) of the
        caller's, or /dev/null when None."""
        with open(os.devnull, "r+b") as null:
            fds = [_fd(stream, null) for stream in (stdin, stdout, stderr)]
            answer = self._ask({"op": "spawn", "args": args, "env": env, "cwd": os.getcwd()}, fds)
        return ForkedProcess(self, int(answer["pid"]))

    def run(
        self, args: list[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """Like `subprocess.run([... pamnode, *args], capture_output=True, text=True)` with
        stdin from /dev/null."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            child = self.spawn(args, env, stdout=out, stderr=err)
            try:
                code = child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(10)
                raise
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(
                ["pamnode", *args],
                code,
                out.read().decode(errors="replace"),
                err.read().decode(errors="replace"),
            )

    def returncode(self, pid: int) -> int | None:
        return self._ask({"op": "poll", "pid": pid})["returncode"]  # type: ignore[no-any-return]

    def _ask(self, request: dict[str, Any], fds: list[int] | None = None) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(self._path))
            socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], fds or [])
            answer: dict[str, Any] = json.loads(_read_line(conn))
        if "error" in answer:
            raise RuntimeError(f"zygote: {answer['error']}")
        return answer


def _fd(stream: int | IO[Any] | None, null: IO[bytes]) -> int:
    if stream is None:
        return null.fileno()
    return stream if isinstance(stream, int) else stream.fileno()


class ForkedProcess:
    """What the lab uses of `subprocess.Popen`, for a child of the zygote."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self._zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._zygote.returncode(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(["pamnode"], timeout or 0.0)
            time.sleep(_POLL_INTERVAL_S)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise RuntimeError("zygote: the connection closed before a whole request")
        data += chunk
    return data


# The zygote's side.


def _serve(path: str) -> dict[str, Any]:
    """Answer requests until a spawn forks: the parent goes on serving, the child returns the
    request it is to run. Single-threaded, so that a fork copies no lock held elsewhere."""
    children: dict[int, int | None] = {}
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Listening before the path appears: a client that sees the path can connect.
    listener.bind(path + ".new")
    listener.listen(64)
    os.rename(path + ".new", path)
    while True:
        conn, _ = listener.accept()
        with conn:
            message, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
            while not message.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                message += chunk
            request = json.loads(message)
            if request["op"] == "poll":
                answer: dict[str, Any] = {"returncode": _reap(children, int(request["pid"]))}
            else:
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    for target, fd in enumerate(fds):
                        os.dup2(fd, target)
                    for fd in fds:
                        if fd > 2:
                            os.close(fd)
                    return dict(request)
                children[pid] = None
                answer = {"pid": pid}
            for fd in fds:
                os.close(fd)
            conn.sendall(json.dumps(answer).encode() + b"\n")


def _reap(children: dict[int, int | None], pid: int) -> int | None:
    if pid not in children:
        raise KeyError(f"not a child of this zygote: {pid}")
    if children[pid] is None:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            children[pid] = os.waitstatus_to_exitcode(status)
    return children[pid]


def _run_child(request: dict[str, Any]) -> None:
    """Become `python -m pamnode ARGS` in the request's environment and directory."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # What PYTHONUNBUFFERED does at a fresh start: a crash leaves no lines in a buffer.
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True, write_through=True)  # type: ignore[union-attr]
    sys.argv = ["pamnode", *request["args"]]
    runpy.run_module("pamnode", run_name="__main__", alter_sys=True)


def main() -> None:
    # Ends with the process that started it (the test run), even on its SIGKILL.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    for module in _PRELOADED:
        __import__(module)
    request = _serve(sys.argv[1])
    _run_child(request)


if __name__ == "__main__":
    main()
