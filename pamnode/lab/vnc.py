"""A real TigerVNC server (Xvnc): its own display, password and address, optionally in a netns.

Xvnc runs in the foreground as a child of its caller, takes RFB connections only where it is
told, X clients only on its local socket, and checks a throwaway VNC password. Its root window
shows the classic X stipple (`-retro`), so a client sees non-blank pixels without any X client
installed. Everything is undone by `stop()`.
"""

from __future__ import annotations

import os
import re
import secrets
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, NoReturn

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from pamnode.lab import LabUnavailable
from pamnode.lab.server import LabServer, end_process

XVNC = Path("/usr/bin/Xvnc")
START_TIMEOUT = 15.0
PROBE_TIMEOUT = 2.0
RFB_BANNER = re.compile(rb"RFB 003\.00\d\n")
# The fixed key VNC password files are DES-encrypted with: TigerVNC's d3des key with the bits of
# each byte mirrored, as a standard DES implementation expects them.
_PASSWORD_FILE_KEY = bytes.fromhex("e84ad660c4721ae0")


def obfuscated_password(password: str) -> bytes:
    """`password` in the format of `vncpasswd -f`, which Xvnc's -PasswordFile reads."""
    # VNC authentication uses the first 8 bytes of a password, NUL-padded.
    block = password.encode()[:8].ljust(8, b"\0")
    # Three equal keys are single DES; cryptography deprecates 8-byte TripleDES keys.
    encryptor = Cipher(TripleDES(_PASSWORD_FILE_KEY * 3), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def exchange(address: str, port: int, send: bytes, size: int, netns: str | None = None) -> bytes:
    """Connect, send `send`, and return up to `size` bytes of the answer (less if it ends).

    With `netns` the connection is made from inside that namespace, where a server listening
    on a namespace-only address is reachable. Raises OSError if nothing answers.
    """
    if netns is None:
        with socket.create_connection((address, port), timeout=PROBE_TIMEOUT) as sock:
            sock.sendall(send)
            answer = b""
            while len(answer) < size:
                chunk = sock.recv(size - len(answer))
                if not chunk:
                    break
                answer += chunk
            return answer
    program = (
        "import sys; from pamnode.lab.vnc import exchange; "
        "a = sys.argv; print(exchange(a[1], int(a[2]), bytes.fromhex(a[3]), int(a[4])).hex())"
    )
    argv = [sys.executable, "-c", program, address, str(port), send.hex(), str(size)]
    result = subprocess.run(
        ["ip", "netns", "exec", netns, *argv], capture_output=True, text=True, timeout=30
    )
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise OSError(f"{address}:{port} in netns {netns}: {last_line}")
    return bytes.fromhex(result.stdout.strip())


class VncServer(LabServer):
    PREFIX = "pamnode-vnc-"

    def __init__(self, address: str, port: int, netns: str | None = None) -> None:
        super().__init__(address, port, netns)
        # Exactly 8 characters: VNC authentication ignores any beyond the eighth.
        self.password = secrets.token_urlsafe(6)
        # The X display (":N") Xvnc chose, known once started.
        self.display: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self._path("Xvnc.log")

    def log_text(self) -> str:
        return self._read("Xvnc.log")

    def _require(self) -> None:
        if not XVNC.exists():
            raise LabUnavailable(
                f"{XVNC} is not installed (Debian package tigervnc-standalone-server)"
            )

    def _setup(self) -> None:
        password_file = self._path("passwd")
        password_file.write_bytes(obfuscated_password(self.password))
        password_file.chmod(0o600)
        self._spawn(password_file)

    def _argv(self, password_file: Path, display_fd: int) -> list[str]:
        argv = [
            str(XVNC),
            # Xvnc picks a free display itself and writes its number here once it is ready.
            "-displayfd",
            str(display_fd),
            "-interface",
            self.address,
            "-rfbport",
            str(self.port),
            "-localhost",
            "no",
            "-SecurityTypes",
            "VncAuth",
            "-PasswordFile",
            str(password_file),
            "-nolisten",
            "tcp",
            "-geometry",
            "1024x768",
            "-depth",
            "24",
            "-desktop",
            "pamnode-lab",
            "-retro",
        ]
        # `ip netns exec` execs Xvnc in place (keeping the display fd), so the PID is Xvnc's own.
        return ["ip", "netns", "exec", self.netns, *argv] if self.netns else argv

    def _spawn(self, password_file: Path) -> None:
        read_fd, write_fd = os.pipe()
        try:
            self._log = self.log_path.open("ab")
            self.proc = subprocess.Popen(
                self._argv(password_file, write_fd),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
            )
            # Only Xvnc may hold the write end, so a dead Xvnc reads as end of file.
            os.close(write_fd)
            write_fd = -1
            deadline = time.monotonic() + START_TIMEOUT
            self.display = f":{self._read_display(read_fd, deadline)}"
            self._await_banner(deadline)
        finally:
            os.close(read_fd)
            if write_fd != -1:
                os.close(write_fd)

    def _read_display(self, read_fd: int, deadline: float) -> int:
        assert self.proc is not None
        written = b""
        while time.monotonic() < deadline and not written.endswith(b"\n"):
            ready, _, _ = select.select([read_fd], [], [], 0.05)
            if ready:
                chunk = os.read(read_fd, 64)
                if not chunk:
                    break
                written += chunk
        if not written.endswith(b"\n"):
            self._fail("wrote no display number")
        return int(written)

    def _await_banner(self, deadline: float) -> None:
        assert self.proc is not None
        # The RFB listener is up before the display is announced; inside a namespace this still
        # proves that the address is the namespace's and the port is Xvnc's.
        last_error = "no answer"
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                banner = exchange(self.address, self.port, b"", 12, self.netns)
            except OSError as exc:
                last_error = str(exc)
            else:
                if RFB_BANNER.fullmatch(banner):
                    return
                last_error = f"answered {banner!r}"
            time.sleep(0.05)
        self._fail(f"gave no RFB banner ({last_error})")

    def _fail(self, what: str) -> NoReturn:
        assert self.proc is not None
        raise RuntimeError(
            f"Xvnc on {self.address}:{self.port} {what} "
            f"(exit {self.proc.poll()}):\n{self.log_text()[-3000:]}"
        )

    def _stop_processes(self) -> None:
        # SIGTERM lets Xvnc remove its /tmp/.X*-lock and socket, which a kill would leave.
        end_process(self.proc)
        self.proc = None
        self.display = None
        if self._log is not None:
            self._log.close()
            self._log = None
