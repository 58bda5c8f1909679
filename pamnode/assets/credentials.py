"""An asset's vault credential in clear, as the code that connects with it holds it, and its
wire form for the pinned channel to a peer (a job or a session carries it; nothing stores it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from pamnode.assets.destinations import Username
from pamnode.core.bodies import Strict

# What a secret is replaced with wherever text produced by a remote host is kept.
REDACTED = "********"

Secret = Annotated[str, Field(max_length=65536)]


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

    @classmethod
    def from_vault(cls, secrets: dict[str, str]) -> Credential:
        return cls(
            username=secrets.get("username", ""),
            password=secrets.get("password"),
            private_key=secrets.get("private_key"),
            passphrase=secrets.get("passphrase"),
        )

    def secrets(self) -> list[str]:
        """The secret values this credential holds, for redaction."""
        values = [self.password, self.passphrase, self.private_key]
        return [value for value in values if value]

    def redact(self, text: str) -> str:
        """`text` with every secret of this credential replaced, for output that is stored or
        shown: a script may echo what it was given, and a remote error may quote it; neither
        may carry a password into a record."""
        # Longest first, so a secret that contains another is replaced whole.
        for secret in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text


class CredentialIn(Strict):
    username: Username
    password: Secret | None = None
    private_key: Secret | None = None
    passphrase: Secret | None = None

    def __repr__(self) -> str:
        return f"CredentialIn(username={self.username!r}, secrets hidden)"
