"""The key-encryption key (KEK) a main node reads from its environment or a file, under which
the key ring is sealed in the database (`crypto/sealed_ring.py`).

The KEK is 32 random bytes written as hex or base64 (`openssl rand -base64 32`). It is never
logged, stored or shown: what names it is its id, a one-way derivation of it, so that a node
started with another KEK says so instead of failing on garbage. The ring is sealed with
AES-256-GCM under a key derived from the KEK (HKDF-SHA256), the id from another derivation:
the id reveals nothing of the sealing key.
"""

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pamnode.core.errors import InvalidInput
from pamnode.crypto.keyring import KeyRingError

KEK_BYTES = 32
NONCE_BYTES = 12


class KekError(InvalidInput):
    """A KEK that cannot be used as given; the message never holds any of it."""

    code = "kek_invalid"


def _derive(kek: bytes, purpose: bytes, length: int) -> bytes:
    return HKDF(hashes.SHA256(), length, salt=None, info=b"pamnode kek " + purpose).derive(kek)


class Kek:
    """A key-encryption key; its repr and str name only its id."""

    def __init__(self, raw: bytes) -> None:
        if len(raw) != KEK_BYTES:
            raise KekError(
                f"the key-encryption key must be {KEK_BYTES} bytes (64 hex digits, or 44 "
                f"base64 characters); it has {len(raw)}: make one with `openssl rand -base64 32`"
            )
        self._sealing = AESGCM(_derive(raw, b"seals the key ring", 32))
        self.id = _derive(raw, b"id", 8).hex()

    @classmethod
    def parse(cls, text: str) -> "Kek":
        """A KEK written as hex or base64 (surrounding white space ignored)."""
        text = text.strip()
        try:
            raw = bytes.fromhex(text) if len(text) == 2 * KEK_BYTES else None
        except ValueError:
            raw = None
        if raw is None:
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise KekError(
                    "the key-encryption key is neither hex nor base64: make one with "
                    "`openssl rand -base64 32`"
                ) from None
        return cls(raw)

    def __repr__(self) -> str:
        return f"Kek(id={self.id})"

    __str__ = __repr__

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._sealing.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        try:
            return self._sealing.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode()
            )
        except InvalidTag:
            raise KeyRingError(
                f"the key ring sealed in the database does not open under the key-encryption "
                f"key {self.id}, whose id it names: it was altered in the database; restore "
                "the database from backup"
            ) from None


def load_kek(text: str | None, path: Path | None) -> Kek | None:
    """The KEK from the environment's text or from a file (its content), if either is set."""
    if text is not None and path is not None:
        raise KekError("set PAMNODE_KEK or PAMNODE_KEK_FILE, not both")
    if path is not None:
        try:
            text = path.read_text()
        except OSError as exc:
            raise KekError(
                f"the key-encryption key file {path} cannot be read: {exc.strerror}"
            ) from None
    return None if text is None else Kek.parse(text)
