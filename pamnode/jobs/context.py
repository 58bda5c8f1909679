"""What the job path needs of the running node, and nothing more."""

import random
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.assets.credentials import Credential
from pamnode.audit.service import AuditScope
from pamnode.core.destinations import DestinationPolicy
from pamnode.core.metrics import NodeMetrics
from pamnode.crypto.keyring import KeyRing
from pamnode.executors.base import Executors
from pamnode.executors.specs import JobSpec
from pamnode.jobs.peer_link import PeerLinks
from pamnode.jobs.pool import JobPool
from pamnode.peers.client import PeerClients
from pamnode.peers.serving import node_signature


@dataclass(frozen=True)
class Handed:
    """A job a main sent here, until it starts: what only memory may hold (its credential,
    the host key the main pinned) and the signature it will bear."""

    spec: JobSpec
    credential: Credential
    signature: str
    # The main's Service user that sent it, for the audit of a target this node refuses.
    scope: AuditScope


@dataclass(frozen=True)
class JobContext:
    database: async_sessionmaker[AsyncSession]
    keyring: KeyRing
    pool: JobPool
    peers: PeerClients
    executors: Executors
    node_name: str
    # The source of the random peer choice; tests may put a seeded one here.
    rng: random.Random
    # What is kept of a job's output, here or from a peer; the rest is cut, and marked so.
    output_cap_bytes: int
    # How long past its timeout a delegated job may stay unfinished before the main gives up.
    follow_grace_s: float
    # How long this node's hold on a job outlives its last renewal (jobs/leases.py).
    lease_s: float
    metrics: NodeMetrics
    # What the jobs run here may connect to.
    destinations: DestinationPolicy = field(default_factory=DestinationPolicy)
    # This main's traffic with each peer: batches out, one feed back.
    links: PeerLinks = field(default_factory=PeerLinks)
    # Jobs sent here by a main and still queued, by id (never written to the database).
    handed: dict[str, Handed] = field(default_factory=dict)

    def signature(self, tenant: str, site: str) -> str:
        """The node signature of a job run here."""
        return node_signature(self.node_name, tenant, site)
