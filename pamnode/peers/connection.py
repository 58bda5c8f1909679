"""Reaching a peer: its job runner's endpoint (token and pin), the address and pin of its
gateway or HTTP proxy, and Test Connection."""

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import record
from pamnode.core.errors import PeerFailure
from pamnode.crypto.cipher import open_sealed
from pamnode.crypto.keyring import KeyRing
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.peers import probes
from pamnode.peers.addresses import parse_component_address, parse_peer_url
from pamnode.peers.client import ListenerEndpoint, PeerClients, PeerEndpoint
from pamnode.peers.models import Component, ConnectionMode, PeerNode
from pamnode.peers.registry import get_peer, require, token_context
from pamnode.peers.wire import PeerInfo


def endpoint(ring: KeyRing, tenant_id: str, peer: PeerNode) -> PeerEndpoint:
    """How to reach the peer's job runner; refuses a peer that is not ready to be used."""
    if peer.access_token_sealed is None:
        raise PeerFailure(f"peer node '{peer.name}' has no access token", code="no_access_token")
    pin = peer.pin(Component.JOB_RUNNER)
    if pin is None:
        raise PeerFailure(
            f"trust in peer node '{peer.name}' is not established: Verify Trust (Job Runner), "
            "then Establish Trust",
            code="trust_not_established",
        )
    token = open_sealed(ring, tenant_id, peer.access_token_sealed, token_context(peer.id))
    return PeerEndpoint(peer.url, token.decode(), pin.sha256, pin.certificate_pem, link_of(peer))


def link_of(peer: PeerNode) -> str | None:
    """The dial's choice for a peer: through its link (its id) when it dials the main, else
    None (the main connects to its addresses)."""
    return peer.id if peer.connection_mode == ConnectionMode.PEER_DIALS else None


def listener_endpoint(peer: PeerNode, component: Component) -> ListenerEndpoint:
    pin = peer.pin(component)
    address: str = getattr(peer, component.address_field)
    if not getattr(peer, component.capability) or not address or pin is None:
        raise PeerFailure(
            f"peer node '{peer.name}' has no trusted {component.label}: set its "
            f"{component.label} Address, then Verify Trust ({component.label}) and "
            "Establish Trust",
            code="trust_not_established",
        )
    host, port = parse_component_address(address, component)
    return ListenerEndpoint(
        address, host, port, pin.sha256, pin.certificate_pem, link_of(peer), component.value
    )


@dataclass(frozen=True)
class ComponentCheck:
    """One component's result in Test Connection: the job runner (the API at the peer's URL),
    the gateway front or the HTTP proxy, each at its own address."""

    component: Component
    address: str
    ok: bool
    code: str = "ok"
    reason: str = ""


@dataclass
class ConnectionReport:
    """OK only if every enabled component answered; `code` and `reason` are the first
    failure's, and `components` has each one's result."""

    ok: bool
    code: str = "ok"
    reason: str = ""
    info: PeerInfo | None = None
    latency_ms: float | None = None
    clock_offset_ms: float | None = None
    components: list[ComponentCheck] = field(default_factory=list)


async def test_connection(
    db: AsyncSession,
    clients: PeerClients,
    ring: KeyRing,
    principal: Principal,
    peer_id: str,
) -> ConnectionReport:
    require(principal, Permission.PEERS_WRITE)
    peer = await get_peer(db, principal, peer_id)
    report = await _probe(clients, ring, principal.tenant.id, peer)
    record(
        db,
        principal.audit_scope,
        AuditAction.PEER_NODE_TEST_CONNECTION,
        peer.name,
        outcome="success" if report.ok else "failure",
        code=report.code,
    )
    return report


async def _probe(
    clients: PeerClients, ring: KeyRing, tenant_id: str, peer: PeerNode
) -> ConnectionReport:
    listeners = [
        c for c in (Component.GATEWAY, Component.HTTP_PROXY) if getattr(peer, c.capability)
    ]
    api, others = await asyncio.gather(
        _probe_api(clients, ring, tenant_id, peer),
        asyncio.gather(*(_probe_listener(clients, peer, c) for c in listeners)),
    )
    checks = [_check_of(Component.JOB_RUNNER, peer.url, api), *others]
    failed = next((check for check in checks if not check.ok), None)
    if failed is not None:
        return ConnectionReport(
            ok=False, code=failed.code, reason=failed.reason, info=api.info, components=checks
        )
    api.components = checks
    return api


def _check_of(component: Component, address: str, report: ConnectionReport) -> ComponentCheck:
    if report.ok:
        return ComponentCheck(component, address, ok=True)
    return ComponentCheck(component, address, False, report.code, report.reason)


async def _probe_listener(
    clients: PeerClients, peer: PeerNode, component: Component
) -> ComponentCheck:
    address: str = getattr(peer, component.address_field)
    try:
        target = listener_endpoint(peer, component)
        await probes.answers_as(component, clients, target)
    except PeerFailure as exc:
        where = f"{component.label} at {address}" if address else component.label
        return ComponentCheck(component, address, False, exc.code, f"{where}: {exc.message}")
    return ComponentCheck(component, address, ok=True)


async def _probe_api(
    clients: PeerClients, ring: KeyRing, tenant_id: str, peer: PeerNode
) -> ConnectionReport:
    expected = parse_peer_url(peer.url)
    try:
        target = endpoint(ring, tenant_id, peer)
        started = time.time()
        info = await clients.exchange(target, "GET", "peer/info", PeerInfo)
        finished = time.time()
    except PeerFailure as exc:
        return ConnectionReport(ok=False, code=exc.code, reason=exc.message)
    if (info.tenant, info.site) != (expected.tenant, expected.site):
        return ConnectionReport(
            ok=False,
            code="tenant_site_mismatch",
            reason=f"the peer answered as {info.tenant}/{info.site}, but the URL "
            f"names {expected.tenant}/{expected.site}",
        )
    return ConnectionReport(
        ok=True,
        info=info,
        latency_ms=round((finished - started) * 1000, 1),
        clock_offset_ms=round((info.time.timestamp() - (started + finished) / 2) * 1000, 1),
    )
