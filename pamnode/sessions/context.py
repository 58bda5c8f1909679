"""What the session path needs of the running node, and nothing more."""

import random
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.core.destinations import DestinationPolicy
from pamnode.core.metrics import NodeMetrics
from pamnode.core.once import OneTimeBook
from pamnode.core.streams import Connection
from pamnode.crypto.keyring import KeyRing
from pamnode.peers.client import PeerClients
from pamnode.peers.routing import Candidate
from pamnode.peers.serving import node_signature
from pamnode.sessions.guacd import Guacd
from pamnode.sessions.ids import checked
from pamnode.sessions.live_shell import ShellFeed
from pamnode.sessions.tickets import Grant, ticket_book


@dataclass
class Joinable:
    """A session a Monitor may join: guacd's connection id on the node whose guacd carries it
    (this node's when `peer` is None), and the watchers' upstreams, cut when it ends."""

    connection: str
    peer: Candidate | None = None
    # How long the session's upstream may say nothing (None: not watched).
    silence_s: float | None = None
    watchers: list[Connection] = field(default_factory=list)
    # Set by the session's own tunnel as it ends, before it cuts the watchers.
    ended: bool = False


@dataclass
class SessionContext:
    database: async_sessionmaker[AsyncSession]
    keyring: KeyRing
    peers: PeerClients
    guacd: Guacd
    node_name: str
    recordings_dir: Path
    # The source of the random gateway choice; tests may put a seeded one here.
    rng: random.Random
    metrics: NodeMetrics
    # What this node's guacd may connect to (sessions carried here, tickets granted here).
    destinations: DestinationPolicy = field(default_factory=DestinationPolicy)
    tickets: OneTimeBook[Grant] = field(default_factory=ticket_book)
    # The address this node's gateway front listens on, once it does.
    gateway_address: str | None = None
    # The upstream of each session this node carries (relayed to guacd, or by its proxy), so
    # a session can be ended from outside (closing it ends the relay, which records the end).
    live: dict[str, Connection] = field(default_factory=dict)
    # The sessions this node carries that a Monitor may join (sessions/monitor.py).
    joinable: dict[str, Joinable] = field(default_factory=dict)
    # The SSH-proxy shells this node carries, whose typescript a Monitor may watch live
    # (sessions/shell_monitor.py; filled by the SSH proxy).
    shells: dict[str, ShellFeed] = field(default_factory=dict)

    def signature(self, tenant: str, site: str) -> str:
        return node_signature(self.node_name, tenant, site)

    def recording_dir(self, session_id: str) -> Path:
        return self.recordings_dir / checked(session_id)
