"""What the job path needs of the running node, and nothing more."""

import random
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.crypto.keyring import KeyRing
from pamnode.jobs.executors.base import Executors
from pamnode.jobs.pool import JobPool
from pamnode.peers.client import PeerClients
from pamnode.peers.serving import node_signature


@dataclass(frozen=True)
class JobContext:
    sessions: async_sessionmaker[AsyncSession]
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

    def signature(self, tenant: str, site: str) -> str:
        """The node signature of a job run here."""
        return node_signature(self.node_name, tenant, site)
