"""The key pair a peer makes at enrolment, and the challenge it signs each time it links.

What is signed binds the answer to this link and this main: the main's site, the enrolment's
id, the main's certificate as the peer pinned it, and the main's fresh challenge. A signature
seen on one link is worth nothing on another.
"""

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_PURPOSE = b"pamnode peer link v1"


def new_key() -> tuple[bytes, str]:
    """A new private key (raw bytes, to be sealed) and its public key (base64)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return private, public_of(private)


def public_of(private: bytes) -> str:
    public = Ed25519PrivateKey.from_private_bytes(private).public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_fingerprint(public_key: str) -> str:
    """The SHA-256 of the raw public key, upper-case hex, as both sides show it."""
    return hashlib.sha256(base64.b64decode(public_key)).hexdigest().upper()


def valid_public_key(public_key: str) -> bool:
    try:
        raw = base64.b64decode(public_key, validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error):
        return False
    return True


def _statement(tenant: str, site: str, link_id: str, main_sha256: str, challenge: bytes) -> bytes:
    return b"\n".join(
        [
            _PURPOSE,
            tenant.encode(),
            site.encode(),
            link_id.encode(),
            main_sha256.encode(),
            challenge,
        ]
    )


def sign(
    private: bytes, tenant: str, site: str, link_id: str, main_sha256: str, challenge: bytes
) -> str:
    key = Ed25519PrivateKey.from_private_bytes(private)
    signed = key.sign(_statement(tenant, site, link_id, main_sha256, challenge))
    return base64.b64encode(signed).decode()


def verify(
    public_key: str,
    signature: str,
    tenant: str,
    site: str,
    link_id: str,
    main_sha256: str,
    challenge: bytes,
) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        key.verify(
            base64.b64decode(signature, validate=True),
            _statement(tenant, site, link_id, main_sha256, challenge),
        )
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
