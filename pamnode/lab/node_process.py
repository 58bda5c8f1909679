"""A real `python -m pamnode serve` process, driven over HTTPS like a client would.

It may run inside a network namespace: it then listens on every address of that namespace
and is reached at `address`, the end of a link that the caller can route to. Given a
`Zygote`, it is forked from one that has imported pamnode already (`zygote.py`: the same
process, less the 2 s of imports); a node in a namespace always starts a fresh interpreter.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

from pamnode.lab.ports import free_port
from pamnode.lab.schema_template import copy_migrated_sqlite
from pamnode.lab.served_node import ServedNode, lab_settings_env
from pamnode.lab.served_node import tls_context as tls_context
from pamnode.lab.server import Process, end_process
from pamnode.lab.zygote import Zygote

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class NodeProcess(ServedNode):
    def __init__(
        self,
        data_dir: Path,
        name: str,
        database_url: str | None = None,
        netns: str | None = None,
        address: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        zygote: Zygote | None = None,
    ) -> None:
        super().__init__(data_dir, name, database_url, address, free_port())
        self.zygote = None if netns else zygote
        # PAMNODE_* settings of this node beyond the command line's.
        self.extra_env = dict(env or {})
        self.netns = netns
        self.proc: Process | None = None
        self._log_handle: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "node.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _db_args(self) -> list[str]:
        return ["--database-url", self.database_url] if self.database_url else []

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # Without this, a crash can leave the interesting lines in a buffer.
        env["PYTHONUNBUFFERED"] = "1"
        env.update(lab_settings_env(self.extra_env))
        return env

    def start(self, admin: tuple[str, str] | None = None) -> None:
        """Serve, and wait until healthy; `admin` (login, password): the first start makes
        that administrator (`serve --admin-login`), without a second process for `init`."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"node {self.name} already running (pid {self.proc.pid})")
        if admin is None:
            self._start([])
            return
        login, password = admin
        with _password_file(password) as password_file:
            self._start(["--admin-login", login, "--admin-password-file", str(password_file)])

    def _start(self, admin_args: list[str]) -> None:
        args = [
            "serve",
            "--data",
            str(self.data_dir),
            "--host",
            "0.0.0.0" if self.netns else self.address,
            "--port",
            str(self.port),
            "--node-name",
            self.name,
            *self._db_args(),
            *admin_args,
        ]
        self._seed_database()
        cmd = [sys.executable, "-m", "pamnode", *args]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        self._log_handle = self.log_path.open("ab")
        forked = " (forked from the zygote)" if self.zygote else ""
        self._log_handle.write(f"\n=== pamnode.lab: {' '.join(cmd)}{forked}\n".encode())
        self._log_handle.flush()
        if self.zygote is not None:
            self.proc = self.zygote.spawn(
                args, self._env(), stdout=self._log_handle, stderr=self._log_handle
            )
        else:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=self._log_handle,
                stderr=subprocess.STDOUT,
                env=self._env(),
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.kill()
            raise

    def _wait_healthy(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        last_error = "no attempt made"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"node {self.name} exited with {code} during startup\n"
                    f"--- node.log tail ---\n{self._log_tail()}"
                )
            # The certificate appears only once serve has generated it on first start.
            if self.cert_path.exists():
                try:
                    resp = httpx.get(
                        f"{self.base_url}/healthz", verify=tls_context(self.cert_path), timeout=2.0
                    )
                    if resp.status_code == 200:
                        body = resp.json()
                        if body.get("node") != self.name:
                            raise RuntimeError(
                                f"port {self.port} answered as {body!r}, expected node {self.name}"
                            )
                        return
                    last_error = f"HTTP {resp.status_code}: {resp.text[:200]}"
                except (httpx.TransportError, ssl.SSLError, OSError, ValueError) as exc:
                    # ssl.SSLError/OSError: cert.pem may be half-written on the first poll.
                    last_error = repr(exc)
            time.sleep(0.1)
        raise RuntimeError(
            f"node {self.name} not healthy within {START_TIMEOUT:.0f}s "
            f"(last: {last_error})\n--- node.log tail ---\n{self._log_tail()}"
        )

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def stop(self) -> None:
        """Graceful SIGTERM, escalating to SIGKILL after STOP_TIMEOUT_S."""
        end_process(self.proc)
        self._close_log()

    def kill(self) -> None:
        """SIGKILL with no chance to clean up, to simulate a crash."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
        self._close_log()

    def restart(self) -> None:
        self.stop()
        self.start()

    def _seed_database(self) -> None:
        if self.sqlite_path is not None:
            copy_migrated_sqlite(self.sqlite_path)

    def init_admin(self, login: str, password: str) -> subprocess.CompletedProcess[str]:
        self._seed_database()
        with _password_file(password) as pw_file:
            args = [
                "init",
                "--data",
                str(self.data_dir),
                "--admin-login",
                login,
                "--admin-password-file",
                str(pw_file),
                *self._db_args(),
            ]
            if self.zygote is not None:
                return self.zygote.run(args, self._env(), timeout=120)
            return subprocess.run(
                [sys.executable, "-m", "pamnode", *args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=self._env(),
                timeout=120,
            )

    def __repr__(self) -> str:
        proc = self.proc
        state = f"pid {proc.pid}" if proc is not None and proc.poll() is None else "stopped"
        return f"<NodeProcess {self.name} {self.base_url} {state}>"


@contextmanager
def _password_file(password: str) -> Iterator[Path]:
    """A 0600 file holding `password` while the block runs: the password travels by file,
    never argv (visible in ps), as an administrator's would."""
    with tempfile.TemporaryDirectory(prefix="pamnode-pw-") as tmp:
        path = Path(tmp) / "password"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password)
        yield path
