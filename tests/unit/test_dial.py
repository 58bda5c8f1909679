"""The dial's failover loop on its own: the order it tries peers in, what it records of each
attempt, the failovers it counts and the one failure that names every peer's reason."""

from __future__ import annotations

import asyncio

import pytest

from pamnode.core.errors import PeerFailure, Unavailable
from pamnode.core.metrics import NodeMetrics
from pamnode.peers.client import ListenerEndpoint, PeerEndpoint
from pamnode.peers.routing import Candidate, Failover, dial

FAILOVER = Failover("session", "no gateway could carry the session", code="all_gateways_failed")


def candidate(name: str) -> Candidate:
    api = PeerEndpoint(f"https://{name}:8443/ztna/acme/lab", "token", "AA", "")
    listener = ListenerEndpoint(f"{name}:4822", name, 4822, "BB", "")
    return Candidate(name, name, api, listener, "acme", "lab")


class Recorded(list):
    async def __call__(self, number, peer, failure):
        self.append((number, peer.name if peer else None, failure))


def failovers(metrics: NodeMetrics) -> float:
    value = metrics.registry.get_sample_value("pamnode_failovers_total", {"kind": "session"})
    return value or 0.0


def refusing(*names: str):
    async def through(peer: Candidate) -> str:
        if peer.name in names:
            raise PeerFailure(f"{peer.name} refused", code="gateway_refused")
        return f"via {peer.name}"

    return through


async def test_the_first_peer_that_answers_carries_and_every_try_is_recorded():
    metrics, recorded = NodeMetrics(), Recorded()
    peers = [candidate("a"), candidate("b"), candidate("c")]
    got = await dial(peers, refusing("a"), recorded, metrics, FAILOVER)
    assert got == "via b"
    assert recorded == [(1, "a", "a refused"), (2, "b", None)]
    assert failovers(metrics) == 1


async def test_when_no_peer_answers_one_failure_names_each_reason_in_order():
    metrics, recorded = NodeMetrics(), Recorded()
    peers = [candidate("b"), candidate("a")]
    with pytest.raises(PeerFailure) as caught:
        await dial(peers, refusing("a", "b"), recorded, metrics, FAILOVER)
    assert caught.value.code == "all_gateways_failed"
    assert caught.value.message == (
        "no gateway could carry the session: b: b refused; a: a refused"
    )
    assert [number for number, _, _ in recorded] == [1, 2]
    assert failovers(metrics) == 1


async def test_an_error_that_is_not_the_peers_ends_the_dial_at_once():
    recorded = Recorded()

    async def through(peer: Candidate) -> str:
        raise Unavailable("the vault is sealed", code="vault_unavailable")

    with pytest.raises(Unavailable):
        await dial([candidate("a"), candidate("b")], through, recorded, NodeMetrics(), FAILOVER)
    assert recorded == [(1, "a", "the vault is sealed")]


async def test_without_peers_here_is_the_one_attempt_and_its_error_stays_its_own():
    recorded = Recorded()

    async def here() -> str:
        raise PeerFailure("no 'ready' from guacd within 30 s", code="gateway_timeout")

    with pytest.raises(PeerFailure) as caught:
        await dial([], refusing(), recorded, NodeMetrics(), FAILOVER, here=here)
    assert caught.value.code == "gateway_timeout"
    assert recorded == [(1, None, "no 'ready' from guacd within 30 s")]


async def test_an_attempt_cut_short_is_recorded_as_such():
    recorded = Recorded()
    started = asyncio.Event()

    async def through(peer: Candidate) -> str:
        started.set()
        await asyncio.sleep(60)
        return "never"

    task = asyncio.create_task(dial([candidate("a")], through, recorded, NodeMetrics(), FAILOVER))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorded == [(1, "a", "")]
