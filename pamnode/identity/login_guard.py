"""What stands in front of a node's password checks: the throttle per login and per source
(`throttle.py`), a bound on the checks running at once, and one on the SSH proxy's key
exchanges a second.

An Argon2 check costs about 0.2 s of a CPU, on purpose. Checks beyond the CPUs would only
queue behind each other and starve everything else the node serves, so a caller past the
bound is turned away (`login_busy`, wait a second) instead of queueing for a check: an
administrator's API calls keep their latency while a crowd guesses passwords. An SSH client
costs the node's event loop its connection, key exchange and first refusal (about 5 ms) before
any password is checked, and guessing tools open a connection a guess: connections past the
rate are closed as they are accepted (`listeners/ssh_proxy.py`).
"""

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from pamnode.core.errors import Throttled
from pamnode.identity.throttle import Attempt, LoginThrottle

BUSY_WAIT_S = 1


def cpu_slots() -> int:
    """One check per CPU this process may run on, less one kept for the event loop that
    serves every request (at least one)."""
    return max(len(os.sched_getaffinity(0)) - 1, 1)


class CheckSlots:
    """At most `size` password checks at once on this node."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._running = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self._running >= self.size:
            raise Throttled(
                f"the node is busy checking other logins: try again in {BUSY_WAIT_S} s",
                retry_after_s=BUSY_WAIT_S,
                code="login_busy",
            )
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1


# SSH key exchanges begun a second: about a tenth of the event loop's time. Not per CPU: the
# node has one event loop, however many CPUs it has, and every key exchange runs on it.
HANDSHAKES_PER_S = 20


class HandshakeRate:
    """At most `per_s` SSH key exchanges begun a second, in bursts of a quarter of that (a
    token bucket; a burst is work the event loop does in one go): a rate, not a count of
    connections under way, so that idle connections that never finish their handshake
    cannot hold anyone else out."""

    def __init__(self, per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_s = per_s
        self.burst = max(per_s / 4, 1)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_s)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


@dataclass
class LoginGuard:
    """One per node: every login of its REST API, console and SSH proxy passes here."""

    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    slots: CheckSlots = field(default_factory=lambda: CheckSlots(cpu_slots()))
    # Told of every password hash checked (the node's metrics count them).
    hashing: Callable[[], None] = lambda: None
    handshakes: HandshakeRate = field(default_factory=lambda: HandshakeRate(HANDSHAKES_PER_S))
    # A login turned away before its check is answered after about this pause (`admitted`).
    refusal_pause_s: float = 0.0

    def refusal_pause(self) -> float:
        """Between half and one and a half times `refusal_pause_s`, at random. With the same
        pause for all, a crowd turned away together comes back together, a second later,
        again and again: its refusals then reach the event loop in one burst a second, and
        whatever request arrives behind the burst waits for all of it."""
        return self.refusal_pause_s * random.uniform(0.5, 1.5)

    @asynccontextmanager
    async def admitted(self, keys: tuple[str, ...]) -> AsyncIterator[Attempt]:
        """A login's place in its keys' allowances and a check slot, held while the block
        runs. A login turned away (throttled, or no slot free) is answered after the pause:
        it holds nothing meanwhile, and a tool that guesses without pausing is slowed to a
        guess a pause instead of coming back the faster the cheaper its refusals are."""
        held = ExitStack()
        try:
            attempt = held.enter_context(self.throttle.attempt(keys))
            held.enter_context(self.slots.slot())
        except Throttled:
            held.close()
            await asyncio.sleep(self.refusal_pause())
            raise
        with held:
            yield attempt
