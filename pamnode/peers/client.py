"""The main node's client for the peer protocol: pinned TLS, the peer's token, clear failures."""

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpcore
import httpx
from pydantic import BaseModel, ValidationError

from pamnode.core.destinations import DestinationPolicy
from pamnode.core.errors import PeerFailure
from pamnode.core.metrics import NodeMetrics
from pamnode.core.request_id import HEADER, outgoing_request_id
from pamnode.peers.links import API, BackendTransport, LinkBackend, Links, Opener, opener
from pamnode.peers.trust import (
    connection_error,
    fetch_leaf,
    fingerprint,
    open_pinned,
    peer_address,
    pin_mismatch,
    pinned_context,
)

TIMEOUT = httpx.Timeout(30.0, connect=10.0)

Answer = TypeVar("Answer", bound=BaseModel)

# Failures of the TLS channel itself, as opposed to not reaching the peer at all.
_TLS_CODES = {"tls_failed", "tls_pin_mismatch"}

# What the peer's own refusal codes mean for the main node's administrator.
_TENANT_SITE = {"token_wrong_tenant", "token_wrong_site", "site_not_found"}

log = logging.getLogger("pamnode.peers")


@dataclass(frozen=True)
class PeerEndpoint:
    url: str
    token: str
    pin_sha256: str
    pin_pem: str
    # The peer's id when it dials the main: its API is reached through its link.
    link: str | None = None

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "", parts.port or 443


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


# Refusals whose code the main keeps as the peer gave it (sessions/recordings.py).
_KEPT = frozenset({"session_not_found", "recording_missing", "recording_being_written"})


def refusal(response: httpx.Response) -> PeerFailure:
    """Turn the peer's HTTP refusal into the reason the main node reports."""
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        if response.status_code >= 500:
            return PeerFailure(
                f"the peer failed to answer (HTTP {response.status_code})", code="peer_error"
            )
        return PeerFailure(
            f"the peer answered HTTP {response.status_code} without a pamnode error: "
            f"{response.text[:200]!r}; is the URL a pamnode site URL?",
            code="peer_error",
        )
    if code == "body_too_large":
        # The sender may split what it sent (`jobs/peer_link`); the peer's limit is its own.
        return PeerFailure(f"the peer refused the request's size: {message}", code=code)
    if code == "job_not_found":
        # The main asks for a job it took over from a lost main node (`jobs/recovery`).
        return PeerFailure(f"the peer has no such job: {message}", code=code)
    if code in _KEPT:
        # The main acts on these (a recording to ask for again, or given up on).
        return PeerFailure(f"the peer answered: {message}", code=code)
    if code == "base_tenant_refused":
        return PeerFailure(f"the peer refused: {message}", code="peer_is_base_tenant")
    if code in _TENANT_SITE:
        return PeerFailure(
            f"the peer's tenant or site does not match the access token: {message} ({code})",
            code="tenant_site_mismatch",
        )
    if code == "permission_denied":
        return PeerFailure(
            f"the access token's user lacks the Service role on the peer site: {message}",
            code="not_service_role",
        )
    if response.status_code in (401, 403):
        return PeerFailure(
            f"the peer refused the access token: {message} ({code})", code="token_refused"
        )
    return PeerFailure(
        f"the peer answered HTTP {response.status_code}: {message}", code="peer_error"
    )


# Every running job may hold a request to its peer (a long-poll); the default pool keeps only
# 20 idle connections, so at 50 jobs most requests would open a new TLS connection. An idle
# connection is let go before the peer's server lets it go (uvicorn: 5 s), not at the same
# moment, when a request could leave on a connection the peer is closing.
LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=200, keepalive_expiry=4.0)
# What httpcore says when a kept-alive connection turns out closed under the request (the peer
# closed it while the network between was down, so its FIN never came).
STALE_CONNECTION = "Server disconnected without sending a response"


class CheckedTcp(httpcore.AsyncNetworkBackend):
    """httpcore's TCP connections to a peer, each to the address the destination policy
    resolved and checked for the peer's host: once a connection (a pooled one serves many
    requests), and to the very address checked (no second lookup to rebind)."""

    def __init__(self, policy: DestinationPolicy) -> None:
        self._policy = policy
        self._tcp = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await peer_address(self._policy, host, port)
        return await self._tcp.connect_tcp(address, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._tcp.sleep(seconds)


def _client(
    endpoint: PeerEndpoint, via: Opener | None, policy: DestinationPolicy
) -> httpx.AsyncClient:
    context = pinned_context(endpoint.pin_pem)
    backend = CheckedTcp(policy) if via is None else LinkBackend(via)
    return httpx.AsyncClient(
        verify=context,
        timeout=TIMEOUT,
        limits=LIMITS,
        headers={"Authorization": f"Bearer {endpoint.token}"},
        transport=BackendTransport(backend, context, LIMITS),
    )


@dataclass(frozen=True)
class ListenerEndpoint:
    """How to reach a peer's gateway front or HTTP proxy: its address and pinned certificate."""

    address: str
    host: str
    port: int
    pin_sha256: str
    pin_pem: str
    # The peer's id when it dials the main, and the listener's name on its link.
    link: str | None = None
    name: str = ""


class PeerClients:
    """One keep-alive HTTPS client per peer endpoint, so jobs do not pay a handshake each.

    The key holds the pin and the token: re-establishing trust or changing the token makes a
    new client, and a peer that restarts with another certificate is checked on reconnect.
    Each connection goes to the address the node's destination policy resolved and checked
    for the peer's host (`CheckedTcp`), or through the peer's link.
    """

    def __init__(self, metrics: NodeMetrics, destinations: DestinationPolicy, links: Links) -> None:
        self._clients: dict[PeerEndpoint, httpx.AsyncClient] = {}
        self._metrics = metrics
        self.destinations = destinations
        self.links = links

    def via(self, link: str | None, listener: str) -> Opener | None:
        """How to reach a peer's listener: through its link (a peer that dials), or None
        (the main connects to its address, which the destination policy checks)."""
        return None if link is None else opener(self.links, link, listener)

    async def open_listener(
        self, target: ListenerEndpoint
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Pinned TLS to a peer's gateway front or HTTP proxy, directly or through its link."""
        return await open_pinned(
            target.host,
            target.port,
            target.pin_sha256,
            target.pin_pem,
            self.via(target.link, target.name) or self.destinations,
        )

    async def call(
        self,
        endpoint: PeerEndpoint,
        method: str,
        path: str,
        timeout: float | None = None,
    ) -> httpx.Response:
        """One request without a body to the peer over the pinned channel (its answer is not
        JSON: a recording); raise PeerFailure on any refusal."""
        response = await self._request(endpoint, method, path, None, timeout)
        self._metrics.peer_request(endpoint.url, "ok")
        return response

    async def exchange(
        self,
        endpoint: PeerEndpoint,
        method: str,
        path: str,
        answer: type[Answer],
        body: BaseModel | None = None,
        timeout: float | None = None,
    ) -> Answer:
        """A typed request of the peer protocol: `body` out, the peer's answer read as `answer`.

        An answer that is not what the contract says is a failure of that peer, like a refusal.
        """
        json = body.model_dump(mode="json") if body is not None else None
        response = await self._request(endpoint, method, path, json, timeout)
        try:
            read = answer.model_validate_json(response.content)
        except ValidationError as exc:
            self._metrics.peer_request(endpoint.url, "invalid")
            route = path.split("?", 1)[0]
            problem = exc.errors()[0]
            if problem["type"] == "json_invalid":
                what = "it is not JSON"
            else:
                what = ".".join(str(part) for part in problem["loc"]) + f": {problem['msg']}"
            raise PeerFailure(
                f"the peer's answer to {method} {route} breaks the peer protocol ({what}); "
                "is the URL a pamnode site of a compatible version?",
                code="peer_answer_invalid",
            ) from None
        self._metrics.peer_request(endpoint.url, "ok")
        return read

    async def _request(
        self, endpoint: PeerEndpoint, method: str, path: str, json: object, timeout: float | None
    ) -> httpx.Response:
        """The request; a failure raised (and counted by its outcome), an answer returned
        uncounted (the caller decides whether it is one)."""
        client = self._clients.get(endpoint)
        via = self.via(endpoint.link, API)
        if client is None:
            client = self._clients[endpoint] = _client(endpoint, via, self.destinations)
        host, port = endpoint.host_port
        request_timeout = (
            TIMEOUT if timeout is None else httpx.Timeout(timeout, connect=min(timeout, 10.0))
        )
        url = endpoint.url.rstrip("/") + "/api/" + path.lstrip("/")
        try:
            response = await _sent(client, method, url, json, request_timeout)
        except httpx.TimeoutException as exc:
            self._metrics.peer_request(endpoint.url, "timeout")
            raise PeerFailure(
                f"{host}:{port} did not answer in time", code="connect_failed"
            ) from exc
        except PeerFailure:
            # The destination policy refused the peer's address (or its name does not
            # resolve), or the peer's link is down (or refused the stream).
            self._metrics.peer_request(endpoint.url, "unreachable")
            raise
        except httpx.TransportError as exc:
            failure = await _transport_failure(endpoint, exc, self.destinations, via)
            self._metrics.peer_request(
                endpoint.url, "tls" if failure.code in _TLS_CODES else "unreachable"
            )
            raise failure from exc
        if response.is_error:
            self._metrics.peer_request(endpoint.url, "refused")
            raise refusal(response)
        return response

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


async def _sent(
    client: httpx.AsyncClient, method: str, url: str, json: object, timeout: httpx.Timeout
) -> httpx.Response:
    """The request, sent once more on a new connection when the kept-alive one it left on was
    closed under it (the peer never read it)."""

    async def send() -> httpx.Response:
        # The peer logs the id with the request: one id in both nodes' logs.
        headers = {HEADER: outgoing_request_id()}
        return await client.request(method, url, json=json, timeout=timeout, headers=headers)

    try:
        return await send()
    except httpx.RemoteProtocolError as exc:
        if STALE_CONNECTION not in str(exc):
            raise
        log.info("%s %s: its kept-alive connection was closed; sending it again", method, url)
    return await send()


async def _transport_failure(
    endpoint: PeerEndpoint,
    exc: httpx.TransportError,
    policy: DestinationPolicy,
    via: Opener | None,
) -> PeerFailure:
    host, port = endpoint.host_port
    cause = _ssl_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        # Fetch what is presented now, so the message names both certificates.
        presented = fingerprint(await fetch_leaf(host, port, via or policy))
        if presented != endpoint.pin_sha256:
            return pin_mismatch(endpoint.pin_sha256, presented)
    if cause is not None:
        return connection_error(host, port, cause)
    return connection_error(host, port, exc.__cause__ or exc.__context__ or exc)
