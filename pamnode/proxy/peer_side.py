"""The peer side of proxy sessions: a one-time grant for one tunnel to one host:port.

The peer checks the target against its own destination policy: it never trusts the main for
it (the HTTP proxy checks again when the CONNECT comes, and connects to what it resolved then).
"""

from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.audit.targets import allowed_destination
from pamnode.core.errors import Unavailable
from pamnode.identity.principal import Principal
from pamnode.peers.serving import require_peer_caller
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.grants import ProxyGrant
from pamnode.proxy.wire import ProxyGrantIn, ProxyGrantOut


async def grant(
    db: AsyncSession, ctx: ProxyContext, principal: Principal, body: ProxyGrantIn
) -> ProxyGrantOut:
    require_peer_caller(principal)
    if ctx.address is None:
        raise Unavailable(
            "this node runs no HTTP proxy: start it with --http-proxy-port to carry proxy sessions",
            code="http_proxy_not_running",
        )
    scope = principal.audit_scope
    target = body.target
    await allowed_destination(
        ctx.destinations,
        db,
        scope,
        target.host,
        target.port,
        via="proxy grant",
        session=body.session_id,
    )
    held = ProxyGrant(body.session_id, body.target.host, body.target.port, scope.tenant, scope.site)
    record(db, scope, AuditAction.PROXY_GRANT, held.target, session=body.session_id)
    # Committed, with its audit event, before the grant can be used.
    await db.commit()
    return ProxyGrantOut(
        grant=ctx.grants.issue(held),
        expires_in_s=ctx.grants.ttl_s,
        proxy=ctx.address,
        node_signature=ctx.signature(scope.tenant, scope.site),
    )
