"""What every executor takes and gives back: a target, a credential, a result or an error.

These types cross area boundaries (the job engine, delegation to peers, the executors), so
they stay plain dataclasses with no behaviour beyond keeping secrets out of sight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# What a secret is replaced with wherever text produced by a remote host is kept.
REDACTED = "********"


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    protocol: str  # "ssh" | "winrm" | "winrm-https"
    # OpenSSH public key line ("ssh-ed25519 AAAA..."), pinned after first contact.
    known_host_key: str | None = None

    @property
    def endpoint(self) -> str:
        # Bracketed for IPv6 so "host:port" stays unambiguous in messages.
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Credential:
    username: str
    password: str | None = None
    private_key: str | None = None  # PEM/OpenSSH text
    passphrase: str | None = None

    def __repr__(self) -> str:
        # The dataclass default would print every field; a credential ends up in tracebacks,
        # debug logs and job records, so only the username and which secrets exist show.
        held = [
            name
            for name in ("password", "private_key", "passphrase")
            if getattr(self, name) is not None
        ]
        return f"Credential(username={self.username!r}, secrets={held})"

    __str__ = __repr__

    def secrets(self) -> list[str]:
        """The secret values this credential holds, for redaction."""
        values = [self.password, self.passphrase, self.private_key]
        return [value for value in values if value]


@dataclass
class TaskResult:
    exit_status: int | None
    output: str  # raw combined output, secrets never included
    facts: dict[str, Any]
    host_key: str | None = None  # the key the SSH server presented (to pin on first contact)


class ExecutionError(Exception):
    """The task could not run at all; `code` is stable, `message` is for people.

    Codes: network_unreachable, auth_failed, host_key_changed, timeout, protocol_error.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def redact(text: str, credential: Credential) -> str:
    """`text` with every secret of `credential` replaced, for output that is stored or shown.

    A script may echo what it was given, and a remote error may quote it; neither may carry
    a password into the job record.
    """
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted(credential.secrets(), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
