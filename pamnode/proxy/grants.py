"""One-time grants of the peer's HTTP proxy: what one CONNECT may reach, for whom."""

from dataclasses import dataclass

from pamnode.core.hostports import authority
from pamnode.core.once import OneTimeBook

GRANT_TTL_S = 30.0


@dataclass(frozen=True)
class ProxyGrant:
    session_id: str
    host: str
    port: int
    # The site whose Service token asked for it; the CONNECT must carry a token of that site.
    tenant: str
    site: str

    @property
    def target(self) -> str:
        return authority(self.host, self.port)


def grant_book(ttl_s: float = GRANT_TTL_S) -> OneTimeBook[ProxyGrant]:
    return OneTimeBook("proxy grant", ttl_s)
