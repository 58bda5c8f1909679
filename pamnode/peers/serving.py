"""Rules for serving as a peer: who may call, and what this node says about itself."""

from typing import Any

from pamnode.app.node import Node
from pamnode.db.base import utcnow
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.identity.tenants import refuse_base_tenant


def require_peer_caller(principal: Principal) -> None:
    refuse_base_tenant(principal.tenant, "serve as a peer node")
    principal.require(Permission.PEER_SERVE)


def describe(node: Node, principal: Principal) -> dict[str, Any]:
    require_peer_caller(principal)
    return {
        "node": node.settings.node_name,
        "tenant": principal.tenant.name,
        "site": principal.site.name,
        "version": node.version,
        "time": utcnow().isoformat(),
        "capabilities": {"job_runner": True, "gateway": False, "http_proxy": False},
    }
