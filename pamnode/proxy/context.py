"""What the proxy area needs of the running node: on a peer, the HTTP proxy's grants; on a
main, what its SSH proxy and RDP pass-through need to open, carry and record sessions."""

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.core.destinations import DestinationPolicy
from pamnode.core.metrics import NodeMetrics
from pamnode.core.once import OneTimeBook
from pamnode.core.streams import Connection
from pamnode.crypto.keyring import KeyRing
from pamnode.identity.external import ExternalAccounts
from pamnode.identity.login_guard import LoginGuard
from pamnode.peers.client import PeerClients
from pamnode.peers.serving import node_signature
from pamnode.proxy.grants import ProxyGrant, grant_book
from pamnode.sessions.ids import checked
from pamnode.sessions.live_shell import ShellFeed

# A proxy session in which no byte moved for this long is ended (settings: proxy_idle_timeout_s).
IDLE_TIMEOUT_S = 1800.0


@dataclass
class ProxyContext:
    database: async_sessionmaker[AsyncSession]
    node_name: str
    keyring: KeyRing
    peers: PeerClients
    recordings_dir: Path
    login_guard: LoginGuard
    # Directory users: their sign-in and the check of their accounts.
    accounts: ExternalAccounts
    # The source of the random peer choice; tests may put a seeded one here.
    rng: random.Random
    # The upstream of every session this node carries (shared with the gateway sessions'),
    # so Terminate can end one from outside.
    live: dict[str, Connection]
    # The live typescript of every shell the SSH proxy carries (shared with the sessions',
    # whose Monitor reads it).
    shells: dict[str, ShellFeed]
    metrics: NodeMetrics
    idle_timeout_s: float = IDLE_TIMEOUT_S
    # What this node's SSH proxy, RDP pass-through and HTTP proxy may connect to.
    destinations: DestinationPolicy = field(default_factory=DestinationPolicy)
    # The one-time ports RDP pass-throughs listen on now (the policy refuses them as targets).
    rdp_ports: set[int] = field(default_factory=set)
    # RDP pass-throughs waiting for their client or carrying it (they outlive the request).
    background: set["asyncio.Task[None]"] = field(default_factory=set)
    grants: OneTimeBook[ProxyGrant] = field(default_factory=grant_book)
    # Where this node's HTTP proxy listens, once it does.
    address: str | None = None

    def signature(self, tenant: str, site: str) -> str:
        return node_signature(self.node_name, tenant, site)

    def recording_dir(self, session_id: str) -> Path:
        return self.recordings_dir / checked(session_id)
