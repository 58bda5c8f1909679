"""What the peer's HTTP proxy needs of the running node."""

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.core.once import OneTimeBook
from pamnode.peers.serving import node_signature
from pamnode.proxy.grants import ProxyGrant, grant_book


@dataclass
class ProxyContext:
    sessions: async_sessionmaker[AsyncSession]
    node_name: str
    grants: OneTimeBook[ProxyGrant] = field(default_factory=grant_book)
    # Where the proxy listens, once it does.
    address: str | None = None

    def signature(self, tenant: str, site: str) -> str:
        return node_signature(self.node_name, tenant, site)
