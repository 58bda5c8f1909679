"""Rules for serving as a peer: who may call, and what this node says about itself."""

from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute

from pamnode.db.base import utcnow
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.tenants import refuse_base_tenant
from pamnode.peers.wire import Capabilities, PeerInfo


def node_signature(node_name: str, tenant: str, site: str) -> str:
    """Who really ran a job or carried a session: `<node>::<tenant>::<site>`."""
    return f"{node_name}::{tenant}::{site}"


def signed_by(column: InstrumentedAttribute[str | None], node: str) -> ColumnElement[bool]:
    """A report's filter on who ran it: a node name, or a whole signature."""
    return (column == node) | column.startswith(f"{node}::")


def require_peer_caller(principal: Principal) -> None:
    refuse_base_tenant(principal.tenant, "serve as a peer node")
    principal.require(Permission.PEER_SERVE)


def describe(
    node_name: str, version: str, gateway: bool, http_proxy: bool, principal: Principal
) -> PeerInfo:
    require_peer_caller(principal)
    return PeerInfo(
        node=node_name,
        tenant=principal.tenant.name,
        site=principal.site.name,
        version=version,
        time=utcnow(),
        capabilities=Capabilities(job_runner=True, gateway=gateway, http_proxy=http_proxy),
    )
