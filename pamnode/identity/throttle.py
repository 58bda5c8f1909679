"""Login throttling: failed logins slow down the next attempts, per user and per source.

After `free` failures for one key (a tenant's login, or a source address), each further
failure locks the key for 2^(failures - free) seconds, at most `max_wait_s` (a temporary
lock). While a key is locked, attempts are refused before the password is checked, so the
right password does not get through either. A successful login clears the user's count; a
source's count fades when it has failed nothing for `forget_after_s`.

The counts live in this node's memory: a restart forgets them, and several main nodes count
apart (docs/security.md).
"""

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

USER_FREE_FAILURES = 5
# A source may be a NAT in front of many people: it gets more rope than one login.
SOURCE_FREE_FAILURES = 20
MAX_WAIT_S = 15 * 60
FORGET_AFTER_S = 60 * 60
# Memory bound: the oldest keys are forgotten first.
MAX_KEYS = 100_000


@dataclass
class _Count:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


@dataclass(frozen=True)
class Lock:
    """A key that has just become locked, for the audit trail."""

    key: str
    failures: int
    seconds: int


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

    def failed(self, keys: tuple[str, ...]) -> list[Lock]:
        """Count a failure on every key; the keys it locks."""
        now = self._clock()
        locks = []
        for key in keys:
            count = self._live(key, now) or _Count()
            count.failures += 1
            count.last_failure = now
            free = USER_FREE_FAILURES if key.startswith("user:") else SOURCE_FREE_FAILURES
            if count.failures >= free:
                seconds = min(2 ** (count.failures - free), MAX_WAIT_S)
                count.locked_until = now + seconds
                locks.append(Lock(key, count.failures, seconds))
            self._counts[key] = count
            self._counts.move_to_end(key)
        while len(self._counts) > MAX_KEYS:
            self._counts.popitem(last=False)
        return locks

    def succeeded(self, user_key: str) -> None:
        self._counts.pop(user_key, None)

    def _live(self, key: str, now: float) -> _Count | None:
        count = self._counts.get(key)
        if count is not None and now - count.last_failure > FORGET_AFTER_S:
            del self._counts[key]
            return None
        return count
