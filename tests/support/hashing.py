"""Argon2 remembered across the nodes this test process serves (`remembered_hashes`).

Each node made in the test process hashes its administrator's password, each tenant its
administrator's, and the first login of each user checks one: about 7 s of the fast tier's
40 s of CPU went to Argon2, in tests whose subject is not hashing. While such a node serves,
the hashers of `pamnode.identity.passwords` are wrapped:
- the same password under the same parameters gets the hash made the first time (so its salt);
- a (hash, password) pair that verified once verifies again without the work.
A wrong password still goes through the real check and is refused, and every hash is a real
Argon2 hash of its password under the node's profile. The real hashers are put back when the
node ends; tests/unit/test_password_proofs.py tests them unwrapped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

from argon2 import PasswordHasher

from pamnode.identity import passwords

# (parameters, password) -> the hash made first; (hash, password) pairs that verified.
_hashes: dict[tuple[str, str], str] = {}
_verified: set[tuple[str, str]] = set()


class _Remembering(PasswordHasher):
    def __init__(self, real: PasswordHasher) -> None:
        super().__init__(
            time_cost=real.time_cost,
            memory_cost=real.memory_cost,
            parallelism=real.parallelism,
            hash_len=real.hash_len,
            salt_len=real.salt_len,
            type=real.type,
        )
        self.real = real
        self._key = f"{real.type}:{real.time_cost}:{real.memory_cost}:{real.parallelism}"

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        if salt is not None or not isinstance(password, str):
            return super().hash(password, salt=salt)
        key = (self._key, password)
        if key not in _hashes:
            _hashes[key] = super().hash(password)
        return _hashes[key]

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        if isinstance(hash, str) and isinstance(password, str):
            if (hash, password) in _verified:
                return True
            super().verify(hash, password)
            _verified.add((hash, password))
            return True
        return super().verify(hash, password)


@contextlib.contextmanager
def remembered_hashes() -> Iterator[None]:
    """Within: the hashers of every profile remember (nested uses share one memory)."""
    if isinstance(passwords._hasher, _Remembering):
        yield
        return
    wrapped = {profile: _Remembering(real) for profile, real in passwords._HASHERS.items()}
    # Found before anything changes: a hasher that is no profile's (a test's own) stops here.
    in_use = next(w for w in wrapped.values() if w.real is passwords._hasher)
    passwords._HASHERS.update(wrapped)
    passwords._hasher = in_use
    try:
        yield
    finally:
        # A node started within may have changed the process's profile (use_profile): the
        # real hasher of the profile in use now is put back.
        current = passwords._hasher
        passwords._HASHERS.update({profile: w.real for profile, w in wrapped.items()})
        if isinstance(current, _Remembering):
            passwords._hasher = current.real
        passwords._dummy_hash.cache_clear()
