"""How a proxy session reaches its target's host:port: out through a peer's HTTP proxy when
its asset has any (the selection rule of `pamnode.peers.selection`, purpose proxy), else
straight from this node, to the address this node's destination policy resolved (the peer
checks against its own policy when it carries the session).

Through a peer: a one-time grant for exactly that host:port from the peer's API (pinned, with
the Service token), then TLS to the peer's HTTP proxy (its own pin) and `CONNECT` with the
token and the grant. A peer that cannot be reached, refuses, or whose proxy cannot open the
tunnel is an attempt; the dial (`pamnode.peers.routing`) tries the next peer. Every attempt is
a SessionAttempt row.
"""

import asyncio
import json
from dataclasses import dataclass

from pamnode.audit.service import AuditScope
from pamnode.audit.targets import allowed_destination
from pamnode.core.errors import PeerFailure, Unavailable
from pamnode.core.hostports import authority
from pamnode.core.streams import Connection
from pamnode.peers.client import PeerEndpoint
from pamnode.peers.links import link_dropped
from pamnode.peers.routing import Candidate, Failover, dial
from pamnode.peers.trust import connection_error
from pamnode.proxy.context import ProxyContext
from pamnode.proxy.wire import GRANT_HEADER, ProxyGrantIn, ProxyGrantOut, ProxyTargetIn
from pamnode.sessions.attempts import recorder

FAILOVER = Failover(
    "proxy", "no peer's HTTP proxy could carry the session", code="all_proxies_failed"
)
CONNECT_TIMEOUT_S = 15.0
HEAD_LIMIT_BYTES = 16384
# How long a peer whose route ended may take to show it is still there.
PEER_CHECK_S = 5.0
THIS_NODE = "this node"


@dataclass
class Route:
    """A byte stream to the target, and what carries it."""

    connection: Connection
    # The peer's HTTP proxy address, or THIS_NODE.
    via: str
    peer_node: str | None
    node_signature: str
    # The peer's API, to ask whether it still answers when the route ends (RDP pass-through).
    peer_api: PeerEndpoint | None = None
    # The number of the link the route was opened on, for a peer that dials this main.
    link_epoch: int | None = None
    # Why the peer was taken for lost while the route was in use (proxy/peer_watch.py).
    lost: str | None = None

    def lost_because(self, why: str) -> str:
        return f"peer node '{self.peer_node}' was lost in the middle of the session: {why}"


async def reach(
    ctx: ProxyContext,
    session_id: str,
    host: str,
    port: int,
    candidates: list[Candidate],
    here_signature: str,
    scope: AuditScope,
) -> Route:
    """The route for the session, recording every attempt; PamError when none succeeds."""

    async def here() -> Route:
        destination = await allowed_destination(
            ctx.destinations,
            ctx.database,
            scope,
            host,
            port,
            via="proxy session",
            session=session_id,
        )
        connection = await _direct(destination.address, host, port)
        return Route(connection, THIS_NODE, None, here_signature)

    return await dial(
        candidates,
        lambda candidate: _through(ctx, session_id, host, port, candidate),
        recorder(ctx.database, session_id, THIS_NODE),
        ctx.metrics,
        FAILOVER,
        here=here,
    )


async def _direct(address: str, host: str, port: int) -> Connection:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(address, port), CONNECT_TIMEOUT_S
        )
    except TimeoutError:
        raise Unavailable(
            f"{authority(host, port)} cannot be reached from this node: no answer within "
            f"{CONNECT_TIMEOUT_S:.0f} s",
            code="network_unreachable",
        ) from None
    except OSError as exc:
        raise Unavailable(
            f"{authority(host, port)} cannot be reached from this node: {exc.strerror or exc}",
            code="network_unreachable",
        ) from None
    return Connection(reader, writer)


async def _through(
    ctx: ProxyContext, session_id: str, host: str, port: int, candidate: Candidate
) -> Route:
    body = ProxyGrantIn(session_id=session_id, target=ProxyTargetIn(host=host, port=port))
    # The grant is asked for while TLS to the proxy opens: one round trip less before the
    # session starts.
    asking = asyncio.ensure_future(
        ctx.peers.exchange(candidate.api, "POST", "peer/proxy-grants", ProxyGrantOut, body)
    )
    proxy = candidate.listening
    try:
        reader, writer = await ctx.peers.open_listener(proxy)
    except BaseException:
        asking.cancel()
        await asyncio.gather(asking, return_exceptions=True)
        raise
    connection = Connection(reader, writer)
    try:
        grant = await asking
    except BaseException:
        await connection.close()
        raise
    asked = authority(host, port)
    writer.write(
        f"CONNECT {asked} HTTP/1.1\r\nHost: {asked}\r\n"
        f"Proxy-Authorization: Bearer {candidate.api.token}\r\n"
        f"{GRANT_HEADER}: {grant.grant}\r\n\r\n".encode()
    )
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CONNECT_TIMEOUT_S)
        status, length = _status_and_length(head)
        if status != 200:
            said = await asyncio.wait_for(reader.read(min(length, HEAD_LIMIT_BYTES)), 5)
            raise PeerFailure(
                f"the HTTP proxy {proxy.address} answered {status}: {_message(said)}",
                code="proxy_refused",
            )
    except PeerFailure:
        await connection.close()
        raise
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        await connection.close()
        raise connection_error(proxy.host, proxy.port, exc) from None
    epoch = ctx.peers.links.epoch(proxy.link) if proxy.link else None
    return Route(
        connection, proxy.address, candidate.name, grant.node_signature, candidate.api, epoch
    )


def link_lost(ctx: ProxyContext, route: Route) -> str | None:
    """Why the route's peer is lost, if the link it dials this main with dropped under the
    route (a stream on it ends with it); None otherwise."""
    if route.peer_api is None:
        return None
    dropped = link_dropped(ctx.peers.links, route.peer_api.link, route.link_epoch)
    return route.lost_because(dropped) if dropped else None


async def lost_peer(ctx: ProxyContext, route: Route) -> str | None:
    """Why the route's peer is lost, if its link dropped or it no longer answers its API;
    None when it does (or the route is this node's). Asked when the route ended before the
    client: the target's own end looks the same from here."""
    if route.peer_api is None:
        return None
    if dropped := link_lost(ctx, route):
        return dropped
    try:
        await ctx.peers.call(route.peer_api, "GET", "peer/info", timeout=PEER_CHECK_S)
    except PeerFailure as exc:
        return route.lost_because(
            f"the route through its HTTP proxy ended and the peer does not answer ({exc.message})"
        )
    return None


def _status_and_length(head: bytes) -> tuple[int, int]:
    status_line, *headers = head.decode("latin-1").split("\r\n")
    try:
        status = int(status_line.split(" ", 2)[1])
    except (IndexError, ValueError):
        raise PeerFailure(
            f"the HTTP proxy did not answer HTTP: {status_line[:80]!r}", code="proxy_refused"
        ) from None
    length = 0
    for line in headers:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            length = int(value)
    return status, length


def _message(body: bytes) -> str:
    """The refusal's message from the API's error body, or the text as it came."""
    try:
        return str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace")[:200] or "no reason given"
