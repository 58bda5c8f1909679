"""Opening a proxy session for a logged-in user: the Sessions report row, and everything the
carrying needs, read in the same transaction (the dial's plan: the vault's credential and the
peers that may carry it; the pinned host key)."""

from dataclasses import dataclass

from pamnode.assets.credentials import Credential
from pamnode.assets.lookup import resolve_asset
from pamnode.assets.models import Asset, AssetHostKey
from pamnode.assets.permissions import not_found
from pamnode.audit.service import AuditScope
from pamnode.core.errors import NotFound
from pamnode.identity import standing
from pamnode.identity.principal import Principal
from pamnode.peers.routing import Candidate, plan_dial
from pamnode.peers.selection import Purpose
from pamnode.proxy.context import ProxyContext
from pamnode.sessions.models import Channel
from pamnode.sessions.opening import open_session, require_connect


@dataclass(frozen=True)
class Opened:
    session_id: str
    asset_id: str
    asset_name: str
    host: str
    port: int
    credential: Credential
    known_host_key: str | None
    candidates: list[Candidate]
    # The signature when this node carries it itself.
    here_signature: str
    # Who opened it, for the audit of a target this node refuses.
    scope: AuditScope


async def open_proxy_session(
    ctx: ProxyContext, principal: Principal, asset_ref: str, channel: Channel
) -> Opened:
    """The opened session, or the PamError that says why not (nothing is written then).

    The caller is read again first: a channel of an SSH connection logged in an hour ago
    opens only for a user that still exists, is not locked and may connect now."""
    async with ctx.database.begin() as db:
        principal = await standing.current(db, principal, ctx.accounts)
        asset_id = await resolve_asset(db, principal.site.id, asset_ref)
        try:
            session = await open_session(db, principal, asset_id, channel)
        except NotFound:
            # Named as the client typed it, as for an asset that does not exist: the id of
            # one the user may not see would tell them it is there.
            raise not_found(asset_ref) from None
        # Carried by this node from the start: no tunnel claims it.
        session.served_by = ctx.node_name
        asset = await db.get(Asset, asset_id)
        assert asset is not None
        dialing = await plan_dial(
            db, ctx.keyring, ctx.rng, principal.tenant.id, asset.id, Purpose.PROXY
        )
        pinned = await db.get(AssetHostKey, asset.id)
        return Opened(
            session.id,
            asset.id,
            asset.name,
            session.target["host"],
            session.target["port"],
            dialing.credential,
            pinned.key if pinned else None,
            dialing.candidates,
            ctx.signature(principal.tenant.name, principal.site.name),
            principal.audit_scope,
        )


async def require_standing(ctx: ProxyContext, principal: Principal, opened: Opened) -> None:
    """When a pass-through's client arrives: its user still exists, is not locked and may
    connect to the asset (the port was asked for a while ago)."""
    async with ctx.database() as db:
        principal = await standing.current(db, principal, ctx.accounts)
        await require_connect(db, principal, opened.asset_id, opened.asset_name)
