"""One-time session tickets of a gateway: issued over the pinned API, redeemed by the front.

A ticket is a random token handed to a main node in `POST peer/sessions`; the front accepts a
connection only with one that is known, unused and younger than its lifetime. The grant it
stands for (target, credential, recording paths) lives only here, in memory: a restart
forgets every ticket, and a credential is never written to this node's disk.
"""

from dataclasses import dataclass, field

from pamnode.core.once import OneTimeBook

TICKET_TTL_S = 30.0


@dataclass(frozen=True)
class Grant:
    session_id: str
    # What guacd's `select` names: the protocol, or (`join`) the connection a Monitor joins.
    protocol: str
    params: dict[str, str] = field(repr=False)
    node_signature: str
    # The site the ticket was granted for, for the audit trail of what the front carries.
    tenant: str
    site: str
    # A Monitor's ticket: joins the session's running connection, read-only.
    join: bool = False


def ticket_book(ttl_s: float = TICKET_TTL_S) -> OneTimeBook[Grant]:
    return OneTimeBook("session ticket", ttl_s)
