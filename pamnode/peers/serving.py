"""Rules for serving as a peer: who may call, and what this node says about itself."""

from pamnode.db.base import utcnow
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.tenants import refuse_base_tenant
from pamnode.peers.wire import Capabilities, PeerInfo


def node_signature(node_name: str, tenant: str, site: str) -> str:
    """Who really ran a job or carried a session: `<node>::<tenant>::<site>`."""
    return f"{node_name}::{tenant}::{site}"


def require_peer_caller(principal: Principal) -> None:
    refuse_base_tenant(principal.tenant, "serve as a peer node")
    principal.require(Permission.PEER_SERVE)


def describe(node_name: str, version: str, gateway: bool, principal: Principal) -> PeerInfo:
    require_peer_caller(principal)
    return PeerInfo(
        node=node_name,
        tenant=principal.tenant.name,
        site=principal.site.name,
        version=version,
        time=utcnow(),
        capabilities=Capabilities(job_runner=True, gateway=gateway, http_proxy=False),
    )
