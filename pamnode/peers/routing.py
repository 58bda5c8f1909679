"""The dial: how every path reaches a target through peers (delegated jobs, gateway sessions,
SSH-proxy channels and RDP pass-throughs), written once.

- `Candidate` is a peer a target may be reached through: its API (token and pin), the listener
  its purpose goes to (the gateway front for sessions, the HTTP proxy for the proxy; none for
  jobs, which go to the API), and the tenant and site its URL names.
- `plan_dial` is the plan every path reads in its own transaction: the asset's vault
  credential and its serving peers (`selection.serving`) in attempt order, as candidates.
- `dial` is the failover loop: it tries the candidates in order, records every attempt with
  the caller's callback, counts each failover, and raises one PeerFailure naming every reason
  when none could be used. A path that may also run on this node (sessions, the proxy) passes
  `here`, tried and recorded as the one attempt when the asset has no serving peer.

What an attempt is (a ticket and the front, a grant and CONNECT, a job sent in a batch) and
the destination policy (enforced by the node that connects) stay with the caller.
"""

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.assets.credentials import Credential
from pamnode.assets.secrets import open_secrets
from pamnode.core.errors import PamError, PeerFailure, Unavailable
from pamnode.core.metrics import FailoverKind, NodeMetrics
from pamnode.crypto.cipher import VaultError
from pamnode.crypto.keyring import KeyRing, KeyRingError
from pamnode.peers.addresses import parse_peer_url
from pamnode.peers.client import ListenerEndpoint, PeerEndpoint
from pamnode.peers.connection import endpoint, listener_endpoint
from pamnode.peers.models import Component, PeerNode
from pamnode.peers.selection import NEEDS, Purpose, attempt_order, serving


@dataclass(frozen=True)
class Candidate:
    peer_id: str
    name: str
    api: PeerEndpoint
    # The gateway front or HTTP proxy its purpose goes to; None for jobs (they go to `api`).
    listener: ListenerEndpoint | None
    # The tenant and site its URL names: a result signed otherwise is refused.
    tenant: str
    site: str

    @classmethod
    def of(cls, ring: KeyRing, tenant_id: str, peer: PeerNode, component: Component) -> Self:
        """The peer as a candidate for what `component` carries; PeerFailure for a peer that
        is not ready for it (no token, trust not established, no address)."""
        url = parse_peer_url(peer.url)
        listener = None if component is Component.JOB_RUNNER else listener_endpoint(peer, component)
        return cls(
            peer.id, peer.name, endpoint(ring, tenant_id, peer), listener, url.tenant, url.site
        )

    @property
    def listening(self) -> ListenerEndpoint:
        """The listener of a session's or proxy's candidate (built for that purpose, it has
        one: `of` refuses a peer without it)."""
        assert self.listener is not None, f"peer node '{self.name}' was built without listener"
        return self.listener

    def signed_here(self, signature: str | None) -> bool:
        """Whether a signature names this peer's tenant and site; no signature claims nothing
        (a job the peer ended before it ran, e.g. cancelled or interrupted)."""
        if signature is None:
            return True
        parts = signature.split("::")
        return len(parts) == 3 and bool(parts[0]) and parts[1:] == [self.tenant, self.site]


@dataclass(frozen=True)
class DialPlan:
    credential: Credential
    # In attempt order; empty when the asset has no serving peer (the target is reached here).
    candidates: list[Candidate]


async def plan_dial(
    db: AsyncSession,
    ring: KeyRing,
    rng: random.Random,
    tenant_id: str,
    asset_id: str,
    purpose: Purpose,
) -> DialPlan:
    """The asset's credential and its peers for `purpose` in attempt order; Unavailable
    (`vault_unavailable`) when the vault cannot open the credential."""
    try:
        secrets = await open_secrets(db, ring, tenant_id, asset_id)
    except (VaultError, KeyRingError) as exc:
        raise Unavailable(str(exc), code="vault_unavailable") from exc
    peers = await serving(db, asset_id, purpose)
    component = NEEDS[purpose]
    candidates = [
        Candidate.of(ring, tenant_id, peer, component) for peer in attempt_order(peers, rng)
    ]
    return DialPlan(Credential.from_vault(secrets), candidates)


@dataclass(frozen=True)
class Failover:
    """How one path's failover is counted and its last failure told."""

    kind: FailoverKind
    # The start of the failure when no candidate could be used; each one's reason follows.
    exhausted: str
    code: str


T = TypeVar("T")

# Records one attempt: its number (from 1), the candidate (None: this node) and its failure
# (None: it reached the target; "" when it was cut short, e.g. cancelled).
Record = Callable[[int, Candidate | None, str | None], Awaitable[None]]


async def dial(
    candidates: Sequence[Candidate],
    through: Callable[[Candidate], Awaitable[T]],
    record: Record,
    metrics: NodeMetrics,
    failover: Failover,
    here: Callable[[], Awaitable[T]] | None = None,
) -> T:
    """What the first candidate that does not fail with a PeerFailure gives (`here`'s, when
    there is no candidate and the caller gave one). Any other error ends the dial."""
    if not candidates and here is not None:
        return await _recorded(1, None, here(), record)
    reasons: list[str] = []
    for number, peer in enumerate(candidates, start=1):
        if number > 1:
            metrics.failed_over(failover.kind)
        try:
            return await _recorded(number, peer, through(peer), record)
        except PeerFailure as exc:
            reasons.append(f"{peer.name}: {exc.message}")
    raise PeerFailure(f"{failover.exhausted}: " + "; ".join(reasons), code=failover.code)


async def _recorded(
    number: int, peer: Candidate | None, attempt: Awaitable[T], record: Record
) -> T:
    failure: str | None = ""
    try:
        reached = await attempt
        failure = None
        return reached
    except PamError as exc:
        failure = exc.message
        raise
    finally:
        await record(number, peer, failure)
