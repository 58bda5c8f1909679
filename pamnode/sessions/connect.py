"""Where a session is carried: through a peer's gateway when its asset has any (the selection
rule of `pamnode.peers.selection`), else by this node's own guacd.

Failover happens only here, before guacd's `ready`: a gateway that cannot be reached, refuses
the ticket or presents another certificate is an attempt, and the next peer is tried. A
session is never moved once it runs.
"""

import asyncio
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from typing import Any

from pamnode.assets.credentials import Credential, CredentialIn
from pamnode.assets.models import Asset, AssetHostKey
from pamnode.assets.secrets import open_secrets
from pamnode.audit.service import AuditScope
from pamnode.audit.targets import allowed_destination
from pamnode.core.errors import PamError, PeerFailure, Unavailable
from pamnode.crypto.cipher import VaultError
from pamnode.crypto.keyring import KeyRingError
from pamnode.identity.models import Site, Tenant
from pamnode.peers.client import PeerEndpoint
from pamnode.peers.connection import ListenerEndpoint, endpoint, listener_endpoint
from pamnode.peers.models import Component
from pamnode.peers.selection import Purpose, attempt_order, serving
from pamnode.peers.trust import open_pinned
from pamnode.sessions.context import SessionContext
from pamnode.sessions.guacamole.handshake import Display, GuacdRefused, handshake
from pamnode.sessions.guacamole.protocol import ProtocolError, encode
from pamnode.sessions.guacamole.stream import GuacStream
from pamnode.sessions.models import Session
from pamnode.sessions.params import connection_params
from pamnode.sessions.states import add_attempt
from pamnode.sessions.wire import TICKET_OPCODE, PeerSessionIn, PeerSessionTicket, SessionTargetIn

# From connecting to the front until `ready`: TLS, the ticket check and guacd's handshake.
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Candidate:
    name: str
    api: PeerEndpoint
    gateway: ListenerEndpoint


@dataclass
class Upstream:
    """A session's connection to guacd (directly or through a front), past `ready`."""

    stream: GuacStream
    gateway: str
    peer: Candidate | None
    node_signature: str


@dataclass(frozen=True)
class _Plan:
    session: dict[str, Any]
    credential: Credential
    candidates: list[Candidate]
    tenant: str
    site: str
    # Who asked for it, for the audit of a target this node refuses.
    scope: AuditScope


async def _plan(ctx: SessionContext, session_id: str) -> _Plan:
    async with ctx.sessions.begin() as db:
        session = await db.get(Session, session_id)
        assert session is not None
        site = await db.get(Site, session.site_id)
        asset = await db.get(Asset, session.asset_id) if session.asset_id else None
        if site is None or asset is None:
            raise Unavailable("the asset no longer exists", code="asset_gone")
        tenant = await db.get(Tenant, site.tenant_id)
        assert tenant is not None
        try:
            secrets = await open_secrets(db, ctx.keyring, tenant.id, asset.id)
        except (VaultError, KeyRingError) as exc:
            raise Unavailable(str(exc), code="vault_unavailable") from exc
        pinned = await db.get(AssetHostKey, asset.id)
        peers = await serving(db, asset.id, Purpose.SESSIONS)
        candidates = [
            Candidate(
                peer.name,
                endpoint(ctx.keyring, tenant.id, peer),
                listener_endpoint(peer, Component.GATEWAY),
            )
            for peer in attempt_order(peers, ctx.rng)
        ]
        facts = {
            "id": session.id,
            "asset_name": session.asset_name,
            "protocol": session.protocol,
            "known_host_key": pinned.key if pinned else None,
            **session.target,
        }
    scope = AuditScope(tenant.name, site.name, session.requested_by, "")
    return _Plan(facts, Credential.from_vault(secrets), candidates, tenant.name, site.name, scope)


async def connect(ctx: SessionContext, session_id: str, display: Display) -> Upstream:
    """Reach guacd for the session, recording every attempt; PamError when none succeeds."""
    plan = await _plan(ctx, session_id)
    if not plan.candidates:
        return await _attempt(ctx, session_id, 1, None, _here(ctx, plan, display))
    reasons: list[str] = []
    for number, candidate in enumerate(plan.candidates, start=1):
        if number > 1:
            ctx.metrics.failed_over("session")
        try:
            return await _attempt(
                ctx, session_id, number, candidate, _through(ctx, plan, candidate, display)
            )
        except PeerFailure as exc:
            reasons.append(f"{candidate.name}: {exc.message}")
    raise PeerFailure(
        "no gateway could carry the session: " + "; ".join(reasons), code="all_gateways_failed"
    )


async def _attempt(
    ctx: SessionContext,
    session_id: str,
    number: int,
    candidate: Candidate | None,
    opening: Coroutine[Any, Any, Upstream],
) -> Upstream:
    gateway = candidate.gateway.address if candidate else f"{ctx.guacd.address} (this node)"
    outcome, error = "failed", ""
    try:
        upstream: Upstream = await asyncio.wait_for(opening, READY_TIMEOUT_S)
        outcome = "connected"
        return upstream
    except TimeoutError as exc:
        error = f"no 'ready' from {gateway} within {READY_TIMEOUT_S:.0f} s"
        raise PeerFailure(error, code="gateway_timeout") from exc
    except PamError as exc:
        error = exc.message
        raise
    finally:
        peer = candidate.name if candidate else None
        await add_attempt(ctx.sessions, session_id, number, peer, gateway, outcome, error)


async def _here(ctx: SessionContext, plan: _Plan, display: Display) -> Upstream:
    destination = await allowed_destination(
        ctx.destinations,
        ctx.sessions,
        plan.scope,
        plan.session["host"],
        plan.session["port"],
        via="session",
        session=plan.session["id"],
    )
    params = connection_params(
        plan.session["protocol"],
        destination.address,
        plan.session["port"],
        plan.credential,
        plan.session["id"],
        plan.session["known_host_key"],
    )
    stream = await ctx.guacd.connect()
    try:
        await handshake(stream, plan.session["protocol"], params, display)
    except (GuacdRefused, ProtocolError, OSError) as exc:
        await stream.close()
        raise Unavailable(f"guacd refused the session: {exc}", code="gateway_refused") from exc
    signature = ctx.signature(plan.tenant, plan.site)
    return Upstream(stream, f"{ctx.guacd.address} (this node)", None, signature)


async def _through(
    ctx: SessionContext, plan: _Plan, candidate: Candidate, display: Display
) -> Upstream:
    body = PeerSessionIn(
        id=plan.session["id"],
        asset_name=plan.session["asset_name"],
        target=SessionTargetIn(
            host=plan.session["host"],
            port=plan.session["port"],
            protocol=plan.session["protocol"],
            known_host_key=plan.session["known_host_key"],
        ),
        credential=CredentialIn(**asdict(plan.credential)),
    )
    ticket = await ctx.peers.exchange(
        candidate.api, "POST", "peer/sessions", PeerSessionTicket, body
    )
    gateway = candidate.gateway
    reader, writer = await open_pinned(
        gateway.host, gateway.port, gateway.pin_sha256, gateway.pin_pem
    )
    stream = GuacStream(reader, writer)
    try:
        await stream.send(encode(TICKET_OPCODE, ticket.ticket, *display.args()))
        answer = await stream.read_instruction()
    except (OSError, ProtocolError) as exc:
        await stream.close()
        raise PeerFailure(
            f"the gateway {gateway.address} dropped the connection: {exc}", code="gateway_refused"
        ) from exc
    if answer.opcode != "ready":
        await stream.close()
        said = answer.args[0] if answer.opcode == "error" and answer.args else answer.opcode
        raise PeerFailure(f"the gateway {gateway.address} refused: {said}", code="gateway_refused")
    return Upstream(stream, gateway.address, candidate, ticket.node_signature)
