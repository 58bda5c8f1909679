"""AES-GCM sealing of secret fields under the tenant's current key version.

A sealed value is `version (4 bytes, big-endian) | nonce (12 bytes) | ciphertext+tag`. The
associated data names the row and field the value belongs to, so a ciphertext copied into
another row or field does not decrypt.
"""

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pamnode.core.errors import Unavailable
from pamnode.crypto.keyring import KeyRing, KeyRingError

NONCE_BYTES = 12


class VaultError(Unavailable):
    """A sealed value cannot be opened; the message says why, never what it holds."""


def seal(ring: KeyRing, tenant_id: str, plaintext: bytes, context: str) -> bytes:
    version, key = ring.active_key(tenant_id)
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, context.encode())
    return version.to_bytes(4, "big") + nonce + sealed


def sealed_version(sealed: bytes) -> int:
    return int.from_bytes(sealed[:4], "big")


def open_sealed(ring: KeyRing, tenant_id: str, sealed: bytes, context: str) -> bytes:
    version = sealed_version(sealed)
    try:
        key = ring.key(tenant_id, version)
    except KeyRingError as exc:
        raise VaultError(str(exc)) from exc
    nonce, body = sealed[4 : 4 + NONCE_BYTES], sealed[4 + NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, context.encode())
    except InvalidTag as exc:
        raise VaultError(
            f"a sealed value ({context}) does not decrypt with key version {version}: "
            "the key ring does not match this database"
        ) from exc
