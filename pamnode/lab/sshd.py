"""A real OpenSSH sshd: its own config, host key and user, optionally in a netns.

sshd runs in the foreground (`-D -e`) as a child of its caller, listening only where it is told,
with a throwaway ed25519 host key and a throwaway Unix account that has both a password and an
authorized ed25519 key. Everything is undone by `stop()`.
"""

from __future__ import annotations

import os
import pwd
import secrets
import time
from pathlib import Path

from pamnode.core.ssh_library import asyncssh
from pamnode.lab import LabUnavailable
from pamnode.lab.server import OneProcessServer

SSHD = Path("/usr/sbin/sshd")
START_TIMEOUT = 15.0


def _new_ed25519() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def _public_line(key: asyncssh.SSHKey) -> str:
    algorithm, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{algorithm} {blob}"


class SshServer(OneProcessServer):
    PREFIX = "pamnode-sshd-"
    LOG = "sshd.log"

    def __init__(self, address: str, port: int, netns: str | None = None) -> None:
        super().__init__(address, port, netns)
        # A unique account per server, so parallel or leftover runs never share one.
        self.user = f"pn-{secrets.token_hex(4)}"
        self.password = secrets.token_urlsafe(18)
        self._client_key = _new_ed25519()
        self.private_key = self._client_key.export_private_key("openssh").decode()
        self.public_key = _public_line(self._client_key)
        self._host_key = _new_ed25519()

    @property
    def host_key_line(self) -> str:
        """The server's public host key, as an OpenSSH key line."""
        return _public_line(self._host_key)

    @property
    def home(self) -> Path:
        return Path(pwd.getpwnam(self.user).pw_dir)

    def _require(self) -> None:
        if not SSHD.exists():
            raise LabUnavailable(f"{SSHD} is not installed (Debian package openssh-server)")
        if os.geteuid() != 0:
            raise LabUnavailable(
                "sshd with its own Unix user needs root (useradd, privilege separation)"
            )

    def _setup(self) -> None:
        # sshd refuses to start without its privilege-separation directory.
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
        assert self.dir is not None
        # sshd reads authorized_keys as the user, so the user must be able to reach it.
        self.dir.chmod(0o755)
        self._make_user(self.user, self.password)
        self._write_files()
        self._spawn()

    def _write_files(self) -> None:
        assert self.dir is not None
        host_key_path = self._write_host_key()
        keys_dir = self.dir / "authorized_keys"
        keys_dir.mkdir(mode=0o755)
        (keys_dir / self.user).write_text(self.public_key + "\n")
        (keys_dir / self.user).chmod(0o644)
        (self.dir / "sshd_config").write_text(
            f"HostKey {host_key_path}\n"
            f"PidFile none\n"
            f"AuthorizedKeysFile {keys_dir}/%u\n"
            # No PAM here; StrictModes would reject the temp dir's ownership.
            "UsePAM no\n"
            "StrictModes no\n"
            "PasswordAuthentication yes\n"
            "KbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\n"
            "PermitRootLogin no\n"
            f"AllowUsers {self.user}\n"
            "LogLevel VERBOSE\n"
            # The default (10:30:100) drops handshakes beyond ten at once: jobs run 50 at once.
            "MaxStartups 200\n"
            # sftp and scp (which speaks SFTP since OpenSSH 9) through the SSH proxy.
            "Subsystem sftp internal-sftp\n"
        )

    def _argv(self) -> list[str]:
        assert self.dir is not None
        argv = [
            str(SSHD),
            "-D",
            "-e",
            "-f",
            str(self.dir / "sshd_config"),
            "-o",
            f"ListenAddress={self.address}:{self.port}",
        ]
        # `ip netns exec` execs sshd in place, so the PID below is sshd's own.
        return ["ip", "netns", "exec", self.netns, *argv] if self.netns else argv

    def _spawn(self) -> None:
        since = self._launch(self._argv())
        assert self.proc is not None
        # The listening line works inside a netns too, where the test cannot connect to poll.
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if "Server listening on" in self.log_text()[since:]:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise self._not_started("sshd")

    def replace_host_key(self) -> None:
        """Restart with a new host key, as a rebuilt or impostor host would present."""
        self._stop_processes()
        self._host_key = _new_ed25519()
        self._write_host_key()
        self._spawn()

    def _write_host_key(self) -> Path:
        assert self.dir is not None
        path = self.dir / "ssh_host_ed25519_key"
        path.unlink(missing_ok=True)
        self._host_key.write_private_key(str(path))
        path.chmod(0o600)
        return path
