"""A real xrdp with its xrdp-sesman: own config, certificate and user, optionally in a netns.

Both run in the foreground (`-n`) as children of their caller. xrdp listens only where it is
told; sesman logs the throwaway Unix user in through PAM and starts each session as an Xvnc
(xrdp's `[Xvnc]` backend) showing the classic X stipple (`-retro`), whose only client is a
shell that waits, so a client sees non-blank pixels. Everything is undone by `stop()`.

xrdp 0.9 fixes where sesman listens: xrdp reads sesman's port from /etc/xrdp/sesman.ini whatever
config it is given, and reaches a session's channel server (which FreeRDP clients need) over
its Unix socket only when sesman's address is 127.0.0.1. So sesman listens on 127.0.0.1 at that
port, and a network namespace holds one RdpServer at a time.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import pwd
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, NoReturn

from pamnode.app.tls import ensure_self_signed
from pamnode.lab import LabUnavailable
from pamnode.lab.accounts import live_pids
from pamnode.lab.server import STOP_TIMEOUT_S, LabServer
from pamnode.lab.vnc import XVNC, exchange

XRDP = Path("/usr/sbin/xrdp")
SESMAN = Path("/usr/sbin/xrdp-sesman")
XRDP_ETC = Path("/etc/xrdp")
START_TIMEOUT = 15.0

# TPKT + X.224 Connection Request carrying an RDP Negotiation Request for TLS.
X224_CONNECTION_REQUEST = bytes.fromhex("030000130ee000000000000100080001000000")
X224_CONNECTION_CONFIRM = 0xD0


def sesman_port() -> int:
    """The port xrdp looks for sesman at, read as xrdp 0.9 reads it."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(XRDP_ETC / "sesman.ini")
    return parser.getint("Globals", "ListenPort", fallback=3350)


def _terminate(find: Callable[[], list[int]]) -> None:
    """SIGTERM what `find` lists, then wait until it lists nothing (or STOP_TIMEOUT_S passes)."""
    for pid in find():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while find() and time.monotonic() < deadline:
        time.sleep(0.05)


def _end_group(proc: subprocess.Popen[bytes] | None) -> None:
    """End a daemon and what it forked, which all share the process group it leads."""
    if proc is None or proc.returncode is not None:
        return
    # Its forks first, while the daemon still reaps them: an orphan's zombie waits for init,
    # and some containers' init never reaps.
    _terminate(lambda: [pid for pid in live_pids("NSpgid", proc.pid) if pid != proc.pid])
    # While the leader is unreaped its group id cannot be reused, so the group is still ours.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            continue


class RdpServer(LabServer):
    PREFIX = "pamnode-rdp-"

    def __init__(self, address: str, port: int, netns: str | None = None) -> None:
        super().__init__(address, port, netns)
        # A unique account per server, so parallel or leftover runs never share one.
        self.user = f"pn-{secrets.token_hex(4)}"
        self.password = secrets.token_urlsafe(18)
        self.xrdp: subprocess.Popen[bytes] | None = None
        self.sesman: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []

    def log_text(self) -> str:
        """What xrdp and sesman logged, and printed before their logs opened."""
        names = ("sesman.out", "sesman.log", "xrdp.out", "xrdp.log")
        return "\n".join(f"--- {name}\n{self._read(name)}" for name in names)

    def _require(self) -> None:
        for binary, package in (
            (XRDP, "xrdp"),
            (SESMAN, "xrdp"),
            (XVNC, "tigervnc-standalone-server"),
        ):
            if not binary.exists():
                raise LabUnavailable(f"{binary} is not installed (Debian package {package})")
        if os.geteuid() != 0:
            raise LabUnavailable("xrdp with its own Unix user needs root (useradd, PAM, setuid)")

    def _setup(self) -> None:
        assert self.dir is not None
        # sesman runs the session script as the user, who must be able to reach it.
        self.dir.chmod(0o755)
        self._make_user(self.user, self.password)
        self._write_files()
        self._spawn()

    def _write_files(self) -> None:
        cert, key = ensure_self_signed(self._path("tls"), "pamnode-lab", self.address)
        session = self._path("session.sh")
        # sesman ends a session (and its Xvnc) when this script ends.
        session.write_text("#!/bin/sh\nexec sleep infinity\n")
        session.chmod(0o755)
        self._path("xrdp.ini").write_text(
            "[Globals]\n"
            # A connection of its own per process: one that crashes leaves the listener up.
            "fork=true\n"
            f"port=tcp://{self.address}:{self.port}\n"
            "security_layer=negotiate\n"
            "crypt_level=high\n"
            f"certificate={cert}\n"
            f"key_file={key}\n"
            "ssl_protocols=TLSv1.2, TLSv1.3\n"
            # FreeRDP (guacd) drops the connection if its static channels are refused.
            "allow_channels=true\n"
            "[Logging]\n"
            f"LogFile={self._path('xrdp.log')}\n"
            "LogLevel=INFO\n"
            "EnableSyslog=false\n"
            "[Xvnc]\n"
            "name=Xvnc\n"
            "lib=libvnc.so\n"
            "username=ask\n"
            "password=ask\n"
            # Where sesman and the sessions' Xvnc and channel server are, see the docstring.
            "ip=127.0.0.1\n"
            "port=-1\n"
        )
        self._path("sesman.ini").write_text(
            "[Globals]\n"
            "ListenAddress=127.0.0.1\n"
            f"ListenPort={sesman_port()}\n"
            "EnableUserWindowManager=false\n"
            f"DefaultWindowManager={session}\n"
            "[Sessions]\n"
            # sesman's default is 0, which allows no session at all.
            "MaxSessions=50\n"
            "[Logging]\n"
            f"LogFile={self._path('sesman.log')}\n"
            "LogLevel=INFO\n"
            "EnableSyslog=false\n"
            "[Xvnc]\n"
            f"param={XVNC}\n"
            "param=-bs\n"
            "param=-nolisten\n"
            "param=tcp\n"
            "param=-localhost\n"
            "param=-retro\n"
        )

    def _popen(self, binary: Path, name: str) -> subprocess.Popen[bytes]:
        argv = [str(binary), "-n", "-c", str(self._path(f"{name}.ini"))]
        if self.netns:
            # `ip netns exec` execs the daemon in place, so the PID is the daemon's own.
            argv = ["ip", "netns", "exec", self.netns, *argv]
        log = self._path(f"{name}.out").open("ab")
        self._logs.append(log)
        # A process group of its own, so that stop() also reaches what the daemon forks.
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _spawn(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        self.sesman = self._popen(SESMAN, "sesman")
        # sesman says nothing until asked, so an accepted connection is the sign. It binds its
        # 127.0.0.1 as ::1 where it can, as 127.0.0.1 otherwise.
        self._await(self.sesman, ("::1", "127.0.0.1"), sesman_port(), b"", 0, deadline)
        self.xrdp = self._popen(XRDP, "xrdp")
        # A Connection Confirm with its Negotiation Response is as long as the request.
        size = len(X224_CONNECTION_REQUEST)
        answer = self._await(
            self.xrdp, (self.address,), self.port, X224_CONNECTION_REQUEST, size, deadline
        )
        if answer[5:6] != bytes([X224_CONNECTION_CONFIRM]):
            self._fail(f"xrdp answered a Connection Request with {answer.hex()}")

    def _await(
        self,
        proc: subprocess.Popen[bytes],
        addresses: tuple[str, ...],
        port: int,
        send: bytes,
        size: int,
        deadline: float,
    ) -> bytes:
        last_error = "no answer"
        while time.monotonic() < deadline and proc.poll() is None:
            for address in addresses:
                try:
                    return exchange(address, port, send, size, self.netns)
                except OSError as exc:
                    last_error = str(exc)
            time.sleep(0.05)
        self._fail(f"nothing answered on port {port} ({last_error}, exit {proc.poll()})")

    def _fail(self, what: str) -> NoReturn:
        raise RuntimeError(
            f"RdpServer on {self.address}:{self.port}: {what}\n{self.log_text()[-4000:]}"
        )

    def _stop_processes(self) -> None:
        _end_group(self.xrdp)
        self.xrdp = None
        if self._user_made:
            self._end_sessions()
        _end_group(self.sesman)
        self.sesman = None
        for log in self._logs:
            log.close()
        self._logs.clear()

    def _end_sessions(self) -> None:
        # Asked to stop while sesman still runs to reap them, a session's processes end it
        # cleanly: Xvnc removes its /tmp/.X*-lock and socket, sesman the channel sockets. The
        # account is this server's own, so its processes are ones this server started.
        uid = pwd.getpwnam(self.user).pw_uid
        _terminate(lambda: live_pids("Uid", uid))
