"""Argon2id password hashing, run off the event loop because it is deliberately slow.

A password proven against its hash is remembered for PROVEN_FOR_S, so that the same login
again soon after is not hashed again: an SSH user's `ssh`, `scp` and `sftp` are each a login
of their own, and a hash costs about 100 ms of CPU (docs/proxy.md, "Speed"). What is kept is an
HMAC of the hash and the password under a key made at process start, never the password; only
successes are kept, so a wrong password always costs a full hash, and a changed password (a
new hash) is never matched by the old one.
"""

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

PROVEN_FOR_S = 60.0
# Logins remembered at most; the oldest is forgotten first.
PROVEN_MAX = 1024
_proof_key = secrets.token_bytes(32)
# Proof of a (hash, password) pair -> when it was proven (time.monotonic()).
_proven: OrderedDict[bytes, float] = OrderedDict()


@cache
def _dummy_hash() -> str:
    """Verified against when the login is unknown, so that both failures cost the same time.
    Made on first use: a hash costs what a login costs, and every process start paid it."""
    return _hasher.hash("pamnode-no-such-user")


def _proof(password_hash: str, password: str) -> bytes:
    pair = password_hash.encode() + b"\0" + password.encode()
    return hmac.new(_proof_key, pair, hashlib.sha256).digest()


def _recently_proven(proof: bytes) -> bool:
    at = _proven.get(proof)
    if at is None:
        return False
    if time.monotonic() - at > PROVEN_FOR_S:
        del _proven[proof]
        return False
    return True


def _remember(proof: bytes) -> None:
    _proven[proof] = time.monotonic()
    _proven.move_to_end(proof)
    while len(_proven) > PROVEN_MAX:
        _proven.popitem(last=False)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    proof = _proof(password_hash, password) if password_hash else None
    if proof is not None and _recently_proven(proof):
        return True

    def _verify() -> bool:
        try:
            return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    proven = await asyncio.to_thread(_verify)
    if proven and proof is not None:
        _remember(proof)
    return proven
