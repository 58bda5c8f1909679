"""Argon2id password hashing, run off the event loop because it is deliberately slow.

Hashes run in threads of their own at a lower CPU priority (a Linux thread has a nice value
of its own): a crowd guessing passwords keeps a CPU hashing without pause, and at the same
priority the kernel would share that CPU evenly between the hashing and the event loop that
serves every other request. At nice HASHING_NICE the loop (and anything else of the node)
preempts a hash as soon as it has work; the hash takes the CPU time the node leaves idle.
Argon2's binding releases the GIL while it hashes, so the threads do not hold up the loop
that way either. Not lower than that: a node on a busy machine must still check an honest
login within seconds.

A password proven against its hash is remembered for PROVEN_FOR_S, so that the same login
again soon after is not hashed again: an SSH user's `ssh`, `scp` and `sftp` are each a login
of their own, and a hash costs about 100 ms of CPU (docs/proxy.md, "Speed"). What is kept is an
HMAC of the hash and the password under a key made at process start, never the password; only
successes are kept, so a wrong password always costs a full hash, and a changed password (a
new hash) is never matched by the old one.

How much a hash costs is the node's `password_hash_profile` (docs/operations.md): new and
changed passwords take it; a stored hash names its own parameters, so hashes made under the
other profile keep verifying.
"""

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class HashProfile(StrEnum):
    # argon2-cffi's default, RFC 9106's second recommended option: t=3, 64 MiB, 4 lanes
    # (about 0.2 s of a CPU).
    STANDARD = "standard"
    # OWASP's minimum for Argon2id: t=2, 19 MiB, 1 lane (about a sixth of the CPU); for a
    # small machine, or a test bench starting hundreds of logins.
    LIGHT = "light"


_HASHERS = {
    HashProfile.STANDARD: PasswordHasher(),
    HashProfile.LIGHT: PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1),
}
_hasher = _HASHERS[HashProfile.STANDARD]


def use_profile(profile: HashProfile) -> None:
    """The cost of the hashes this process makes from now on (one node a process)."""
    global _hasher
    _hasher = _HASHERS[profile]
    _dummy_hash.cache_clear()


# CFS weighs a nice-10 thread at about a tenth of a nice-0 one.
HASHING_NICE = 10


def _lower_priority() -> None:
    # Raising one's own nice needs no privilege; where the platform refuses it anyway, the
    # hashes run at the node's priority, as before.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICE)


# As many threads as CPUs: how many checks run at once is bounded before (login_guard.py).
_hashing = ThreadPoolExecutor(
    max_workers=len(os.sched_getaffinity(0)),
    thread_name_prefix="argon2",
    initializer=_lower_priority,
)

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
    return await asyncio.get_running_loop().run_in_executor(_hashing, _hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    proof = _proof(password_hash, password) if password_hash else None
    if proof is not None and _recently_proven(proof):
        return True

    def _verify() -> bool:
        try:
            return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    proven = await asyncio.get_running_loop().run_in_executor(_hashing, _verify)
    if proven and proof is not None:
        _remember(proof)
    return proven
