"""Login throttling: failed logins slow down the next attempts, per user and per source.

After `free` failures for one key (a tenant's login, or a source address), each further
failure locks the key for 2^(failures - free) seconds, at most `max_wait_s` (a temporary
lock). While a key is locked, attempts are refused before the password is checked, so the
right password does not get through either. A successful login clears the user's count; a
source's count fades when it has failed nothing for `forget_after_s`.

An attempt is admitted and takes its place in each key's allowance in one step, before the
password check awaits anything: the attempts being checked count as failures-to-be, so 40 at
once for one login reach the password hash as often as its allowance (5), not 40 times.

The counts live in this node's memory: a restart forgets them, and several main nodes count
apart (docs/security.md).
"""

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pamnode.core.errors import Throttled

USER_FREE_FAILURES = 5
# A source may be a NAT in front of many people: it gets more rope than one login.
SOURCE_FREE_FAILURES = 20
MAX_WAIT_S = 15 * 60
FORGET_AFTER_S = 60 * 60
# Memory bound: the oldest keys are forgotten first.
MAX_KEYS = 100_000
# What a caller turned away because the key's allowance is being checked waits: a check
# takes well under a second.
CHECKING_WAIT_S = 1


@dataclass
class _Count:
    # Failures before the first lock.
    free: int
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0
    # Attempts admitted and still being checked.
    checking: int = 0

    def allowance(self) -> int:
        """Attempts that may be checked at once: the failures left before the lock, and one
        at a time past it (each failure there locks the key again)."""
        return max(self.free - self.failures, 1)


@dataclass(frozen=True)
class Lock:
    """A key that has just become locked, for the audit trail."""

    key: str
    failures: int
    seconds: int


class Attempt:
    """One admitted attempt, holding its place in its keys' allowances until it ends."""

    def __init__(self, throttle: "LoginThrottle", keys: tuple[str, ...]) -> None:
        self._throttle = throttle
        self._keys = keys

    def failed(self) -> list[Lock]:
        """Count the failure on every key; the keys it locks."""
        return self._throttle._failed(self._keys)

    def succeeded(self) -> None:
        """Clear the user's count (the source's stays)."""
        count = self._throttle._counts.get(self._keys[0])
        if count is not None:
            count.failures, count.locked_until = 0, 0.0


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts: OrderedDict[str, _Count] = OrderedDict()

    @staticmethod
    def keys(tenant: str, login: str, source: str) -> tuple[str, str]:
        return f"user:{tenant}/{login.lower()}", f"source:{source}"

    def wait_s(self, keys: tuple[str, ...]) -> int:
        """Seconds until every key may try again; 0 when none is locked."""
        now = self._clock()
        waits = [count.locked_until - now for key in keys if (count := self._live(key, now))]
        return max(0, int(max(waits, default=0) + 0.999))

    @contextmanager
    def attempt(self, keys: tuple[str, ...]) -> Iterator[Attempt]:
        """Admit an attempt, or refuse it (`login_throttled`) while a key is locked or its
        allowance is taken by attempts being checked. Deciding and taking the place are one
        step; the place is given back when the block ends, whatever its outcome."""
        if wait := self.wait_s(keys):
            raise Throttled(
                f"too many failed logins for this login or from this address: try again in "
                f"{wait} s",
                retry_after_s=wait,
                code="login_throttled",
            )
        now = self._clock()
        counts = [self._remembered(key, now) for key in keys]
        if any(count.checking >= count.allowance() for count in counts):
            raise Throttled(
                f"too many logins at once for this login or from this address: try again in "
                f"{CHECKING_WAIT_S} s",
                retry_after_s=CHECKING_WAIT_S,
                code="login_throttled",
            )
        for count in counts:
            count.checking += 1
        try:
            yield Attempt(self, keys)
        finally:
            # The counts themselves, not the keys: a count forgotten meanwhile is not reborn.
            for count in counts:
                count.checking -= 1

    def _failed(self, keys: tuple[str, ...]) -> list[Lock]:
        now = self._clock()
        locks = []
        for key in keys:
            count = self._remembered(key, now)
            count.failures += 1
            count.last_failure = now
            if count.failures >= count.free:
                seconds = min(2 ** (count.failures - count.free), MAX_WAIT_S)
                count.locked_until = now + seconds
                locks.append(Lock(key, count.failures, seconds))
        return locks

    def _remembered(self, key: str, now: float) -> _Count:
        """The key's count, made when new, and the last the memory bound forgets."""
        count = self._live(key, now)
        if count is None:
            free = USER_FREE_FAILURES if key.startswith("user:") else SOURCE_FREE_FAILURES
            count = self._counts[key] = _Count(free, last_failure=now)
        self._counts.move_to_end(key)
        while len(self._counts) > MAX_KEYS:
            self._counts.popitem(last=False)
        return count

    def _live(self, key: str, now: float) -> _Count | None:
        count = self._counts.get(key)
        if count is not None and count.checking == 0 and now - count.last_failure > FORGET_AFTER_S:
            del self._counts[key]
            return None
        return count
