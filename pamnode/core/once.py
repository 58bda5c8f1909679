"""One-time tokens: issued for something, good for one use within a lifetime, then gone.

Held in memory only (a restart forgets them), keyed by a hash of the token. A used token is
remembered until it would have expired, and an expired one for a lifetime more, so a replay or
a late use is named as such rather than as an unknown token. The gateway's session tickets and
the HTTP proxy's grants are such tokens.
"""

import hashlib
import secrets
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from pamnode.core.errors import Unauthenticated

Held = TypeVar("Held")


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OneTimeBook(Generic[Held]):
    def __init__(
        self, what: str, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # What a token is called in refusals ("session ticket", "proxy grant").
        self.what = what
        self.ttl_s = ttl_s
        self._clock = clock
        self._open: dict[str, tuple[float, Held]] = {}
        self._used: dict[str, float] = {}

    def issue(self, held: Held) -> str:
        self._forget_expired()
        token = secrets.token_urlsafe(32)
        self._open[_key(token)] = (self._clock() + self.ttl_s, held)
        return token

    def peek(self, token: str) -> Held:
        """What a token stands for, without using it; refused like `redeem` would refuse."""
        return self._check(token, consume=False)

    def redeem(self, token: str) -> Held:
        return self._check(token, consume=True)

    def _check(self, token: str, consume: bool) -> Held:
        key = _key(token)
        found = self._open.get(key)
        if found is None:
            if key in self._used:
                raise Unauthenticated(f"the {self.what} was used already", code="ticket_used")
            raise Unauthenticated(f"the {self.what} is not known here", code="ticket_unknown")
        expires, held = found
        if self._clock() > expires:
            raise Unauthenticated(f"the {self.what} has expired", code="ticket_expired")
        if consume:
            del self._open[key]
            self._used[key] = expires
        return held

    def _forget_expired(self) -> None:
        now = self._clock()
        for key, (expires, _) in list(self._open.items()):
            if now > expires + self.ttl_s:
                del self._open[key]
        for key, expires in list(self._used.items()):
            if now > expires:
                del self._used[key]
