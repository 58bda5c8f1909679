"""SSH key pairs and TOTP codes as a user's own tools make them, for the tests of key login
and the second factor."""

from __future__ import annotations

import base64
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from pamnode.identity import totp


def key_pair(kind: str = "ed25519", bits: int = 3072) -> PrivateKeyTypes:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def public_line(key: PrivateKeyTypes, comment: str = "") -> str:
    """The key's .pub line, as ssh-keygen writes it."""
    line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return f"{line.decode()} {comment}".strip()


def write_identity(key: PrivateKeyTypes, path: Path) -> Path:
    """An OpenSSH private key file `ssh -i` reads (mode 0600, or ssh ignores it)."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def code(seed: str, steps_from_now: int = 0) -> str:
    """The code an authenticator app holding `seed` shows, `steps_from_now` steps away."""
    raw = base64.b32decode(seed + "=" * (-len(seed) % 8))
    return totp.code_at(raw, totp.step_at(time.time()) + steps_from_now)
