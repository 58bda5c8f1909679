"""One-time session tickets of a gateway: issued over the pinned API, redeemed by the front.

A ticket is a random token handed to a main node in `POST peer/sessions`; the front accepts a
connection only with one that is known, unused and younger than its lifetime. The grant it
stands for (target, credential, recording paths) lives only here, in memory: a restart
forgets every ticket, and a credential is never written to this node's disk.
"""

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pamnode.core.errors import Unauthenticated

TICKET_TTL_S = 30.0


@dataclass(frozen=True)
class Grant:
    session_id: str
    protocol: str
    params: dict[str, str] = field(repr=False)
    node_signature: str
    # The site the ticket was granted for, for the audit trail of what the front carries.
    tenant: str
    site: str


def _key(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class TicketBook:
    def __init__(
        self, ttl_s: float = TICKET_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._open: dict[str, tuple[float, Grant]] = {}
        # Used tickets are remembered until they would have expired, so a replay is named as
        # one in the gateway's log rather than as an unknown ticket.
        self._used: dict[str, float] = {}

    def issue(self, grant: Grant) -> str:
        self._forget_expired()
        ticket = secrets.token_urlsafe(32)
        self._open[_key(ticket)] = (self._clock() + self.ttl_s, grant)
        return ticket

    def redeem(self, ticket: str) -> Grant:
        key = _key(ticket)
        now = self._clock()
        found = self._open.pop(key, None)
        if found is None:
            if key in self._used:
                raise Unauthenticated("the session ticket was used already", code="ticket_used")
            raise Unauthenticated("the session ticket is not known here", code="ticket_unknown")
        expires, grant = found
        if now > expires:
            raise Unauthenticated("the session ticket has expired", code="ticket_expired")
        self._used[key] = expires
        return grant

    def _forget_expired(self) -> None:
        now = self._clock()
        for key, (expires, _) in list(self._open.items()):
            # An expired ticket is still named as expired for a while, then forgotten.
            if now > expires + self.ttl_s:
                del self._open[key]
        for key, expires in list(self._used.items()):
            if now > expires:
                del self._used[key]
