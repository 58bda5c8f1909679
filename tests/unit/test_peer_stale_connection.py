"""A peer request whose connection is closed under it before any answer (a kept-alive
connection the peer closed while the network between was down, so its FIN never came) is sent
once more on a new connection; a peer that does so every time is a failure, not a loop."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pamnode.app.tls import ensure_self_signed
from pamnode.core.destinations import DestinationPolicy
from pamnode.core.errors import PeerFailure
from pamnode.core.metrics import NodeMetrics
from pamnode.peers.client import PeerClients, PeerEndpoint
from pamnode.peers.trust import fingerprint

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@dataclass
class Peer:
    """A TLS server that reads each request and closes its connection without an answer
    `cut` times, then answers."""

    endpoint: PeerEndpoint
    cut: int
    requests: int = 0


class NoLinks:
    async def socket(self, peer_id: str, listener: str):  # pragma: no cover - never dialled
        raise AssertionError("no peer here dials the main")

    def epoch(self, peer_id: str) -> int | None:
        return None

    def lost(self, peer_id: str) -> str:
        return ""


@pytest.fixture
async def peer(tmp_path: Path) -> AsyncIterator[Peer]:
    cert, key = ensure_self_signed(tmp_path, "peer", "127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    pem = cert.read_text()
    served = Peer(PeerEndpoint("", "token", fingerprint(ssl.PEM_cert_to_DER_cert(pem)), pem), cut=0)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                served.requests += 1
                if served.cut > 0:
                    served.cut -= 1
                    break
                writer.write(ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    served.endpoint = PeerEndpoint(
        f"https://127.0.0.1:{port}/ztna/acme/lab", "token", served.endpoint.pin_sha256, pem
    )
    yield served
    server.close()


def clients() -> PeerClients:
    loopback = DestinationPolicy(allowed=[ipaddress.ip_network("127.0.0.0/8")])
    return PeerClients(NodeMetrics(), loopback, NoLinks())


async def test_a_request_closed_under_it_once_is_sent_again_and_answered(peer):
    peers = clients()
    peer.cut = 1
    try:
        answered = await peers.call(peer.endpoint, "GET", "peer/info")
    finally:
        await peers.aclose()
    assert answered.status_code == 200
    assert peer.requests == 2


async def test_a_peer_that_always_closes_is_a_failure_after_the_second_try(peer):
    peers = clients()
    peer.cut = 10
    try:
        with pytest.raises(PeerFailure) as refused:
            await peers.call(peer.endpoint, "GET", "peer/info")
    finally:
        await peers.aclose()
    assert peer.requests == 2
    assert refused.value.code == "connect_failed", refused.value
