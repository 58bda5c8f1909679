"""Opening a proxy session for a logged-in user: the Sessions report row, and everything the
carrying needs, read in the same transaction (the vault's credential, the pinned host key, the
peers that may carry it)."""

from dataclasses import dataclass

from pamnode.assets.credentials import Credential
from pamnode.assets.lookup import resolve_asset
from pamnode.assets.models import Asset, AssetHostKey
from pamnode.assets.secrets import open_secrets
from pamnode.audit.service import AuditScope
from pamnode.core.errors import Unavailable
from pamnode.crypto.cipher import VaultError
from pamnode.crypto.keyring import KeyRingError
from pamnode.identity.principal import Principal
from pamnode.peers.selection import Purpose, attempt_order, serving
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.route import Candidate
from pamnode.sessions.models import Channel
from pamnode.sessions.opening import open_session


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
    """The opened session, or the PamError that says why not (nothing is written then)."""
    async with ctx.sessions.begin() as db:
        asset_id = await resolve_asset(db, principal.site.id, asset_ref)
        session = await open_session(db, principal, asset_id, channel)
        # Carried by this node from the start: no tunnel claims it.
        session.served_by = ctx.node_name
        asset = await db.get(Asset, asset_id)
        assert asset is not None
        try:
            secrets = await open_secrets(db, ctx.keyring, principal.tenant.id, asset.id)
        except (VaultError, KeyRingError) as exc:
            raise Unavailable(str(exc), code="vault_unavailable") from exc
        pinned = await db.get(AssetHostKey, asset.id)
        peers = await serving(db, asset.id, Purpose.PROXY)
        candidates = [
            Candidate.of(ctx.keyring, principal.tenant.id, peer)
            for peer in attempt_order(peers, ctx.rng)
        ]
        return Opened(
            session.id,
            asset.id,
            asset.name,
            session.target["host"],
            session.target["port"],
            Credential.from_vault(secrets),
            pinned.key if pinned else None,
            candidates,
            ctx.signature(principal.tenant.name, principal.site.name),
            principal.audit_scope,
        )
