"""OpenSSH's own clients (`ssh`, `scp`, `sftp` from Debian's openssh-client) pointed at a
pamnode SSH proxy, as an administrator would use them: password from an askpass program,
the proxy's host key pinned in a known_hosts file of their own, optionally run in a netns.

`shell()` drives an interactive session through a real pseudo-terminal, so the proxy sees a
PTY request, typed lines and window changes exactly as from a person's terminal.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from dataclasses import dataclass
from pathlib import Path

from pamnode.core.hostports import known_hosts_name
from pamnode.core.ssh_library import asyncssh

TIMEOUT_S = 60.0


@dataclass
class OpenSshClient:
    host: str
    port: int
    password: str
    # Where the client keeps its askpass script and known_hosts.
    workdir: Path
    netns: str | None = None
    # A private key to log in with (`ssh -i`) instead of the password.
    identity: Path | None = None
    # What the askpass program answers a second-factor prompt (keyboard-interactive).
    code: str = ""

    def pin(self, host_key_file: Path) -> None:
        """Trust exactly the proxy's host key (read from the node's data directory)."""
        key = asyncssh.read_private_key(str(host_key_file))
        line = key.export_public_key("openssh").decode().split()[:2]
        name = known_hosts_name(self.host, self.port)
        (self.workdir / "known_hosts").write_text(f"{name} {' '.join(line)}\n")

    def _askpass(self) -> Path:
        script = self.workdir / "askpass.sh"
        if not script.exists():
            # The prompt is its argument: a code's prompt gets the code, any other the password.
            script.write_text(
                "#!/bin/sh\n"
                'case "$1" in\n'
                '  *[Cc]ode*) printf "%s\\n" "$PAMNODE_LAB_CODE" ;;\n'
                '  *) printf "%s\\n" "$PAMNODE_LAB_PASSWORD" ;;\n'
                "esac\n"
            )
            script.chmod(0o700)
        return script

    def _env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "SSH_ASKPASS": str(self._askpass()),
            "SSH_ASKPASS_REQUIRE": "force",
            "PAMNODE_LAB_PASSWORD": self.password,
            "PAMNODE_LAB_CODE": self.code,
            "TERM": "xterm",
        }

    def options(self) -> list[str]:
        first = "publickey" if self.identity else "password"
        key = ["-i", str(self.identity), "-o", "IdentitiesOnly=yes"] if self.identity else []
        return [
            "-F",
            "none",
            "-o",
            f"UserKnownHostsFile={self.workdir / 'known_hosts'}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            # The second factor's prompt comes after the key or the password.
            f"PreferredAuthentications={first},keyboard-interactive",
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            f"PubkeyAuthentication={'yes' if self.identity else 'no'}",
            "-o",
            "ConnectTimeout=20",
            *key,
        ]

    def _command(self, program: str, *args: str) -> list[str]:
        command = [program, *self.options(), *args]
        return ["ip", "netns", "exec", self.netns, *command] if self.netns else command

    def run(
        self, program: str, *args: str, stdin: bytes = b"", timeout: float = TIMEOUT_S
    ) -> subprocess.CompletedProcess[bytes]:
        """`program` ("ssh", "scp" or "sftp") with its arguments, to completion."""
        return subprocess.run(
            self._command(program, *args),
            input=stdin,
            capture_output=True,
            env=self._env(),
            timeout=timeout,
            start_new_session=True,
        )

    def ssh(self, user: str, *command: str) -> subprocess.CompletedProcess[bytes]:
        return self.run("ssh", "-p", str(self.port), f"{user}@{self.host}", "--", *command)

    def shell(self, user: str, rows: int = 24, cols: int = 80) -> Terminal:
        return Terminal(
            self._command("ssh", "-tt", "-p", str(self.port), f"{user}@{self.host}"),
            self._env(),
            rows,
            cols,
        )


class Terminal:
    """A program on a real pseudo-terminal: type lines, wait for text, resize the window."""

    def __init__(self, command: list[str], env: dict[str, str], rows: int, cols: int) -> None:
        self.master, slave = pty.openpty()
        self._size(slave, rows, cols)
        self.proc = subprocess.Popen(
            command,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
            # The terminal becomes the child's controlling terminal, as in a login.
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        os.close(slave)
        self.seen = b""

    @staticmethod
    def _size(fd: int, rows: int, cols: int) -> None:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def expect(self, text: str, timeout: float = TIMEOUT_S) -> str:
        """Everything seen so far, once it holds `text`."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and not self._read(0)):
                raise AssertionError(f"{text!r} not seen; the terminal shows:\n{self.text}")
            self._read(min(left, 0.5))
        return self.text

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return False
        self.seen += data
        return bool(data)

    @property
    def text(self) -> str:
        return self.seen.decode("utf-8", "replace")

    def resize(self, rows: int, cols: int) -> None:
        self._size(self.master, rows, cols)
        self.proc.send_signal(signal.SIGWINCH)

    def wait(self, timeout: float = TIMEOUT_S) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        return self.proc.wait(timeout=1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
