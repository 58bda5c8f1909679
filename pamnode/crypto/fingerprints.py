"""How an administrator compares a certificate: the SHA-256 of its DER, in upper-case hex
(what Verify Trust, the startup banner and a directory's pin show)."""

import hashlib


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest().upper()
