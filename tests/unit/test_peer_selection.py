"""The selection rule on its own: who is usable, and a fair random pick with failover order."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

from pamnode.assets.models import Asset
from pamnode.peers.models import PeerAssignment, PeerNode, PeerPin
from pamnode.peers.selection import Purpose, Reach, attempt_order, effective, unusable_because


def peer(name, *, enabled=True, trusted=True, job_runner=True, token=True, gateway=False):
    node = PeerNode(
        id=name,
        name=name,
        enabled=enabled,
        job_runner=job_runner,
        gateway=gateway,
        access_token_sealed=b"sealed" if token else None,
        pins=[],
    )
    if trusted:
        node.pins.append(
            PeerPin(
                component="job-runner", sha256="AA", certificate_pem="", not_after=datetime.now(UTC)
            )
        )
    return node


def reach(node, *, enabled=True, depth=0):
    source = Asset(id=f"container-{depth}", name=f"level {depth}", type="container")
    assignment = PeerAssignment(asset_id=source.id, peer_node_id=node.id, enabled=enabled)
    return Reach(assignment, node, source, inherited=depth > 0)


def test_effective_set_keeps_only_usable_enabled_assignments():
    ok_direct, ok_inherited = peer("a"), peer("b")
    found = [
        reach(ok_direct),
        reach(ok_inherited, depth=2),
        reach(peer("disabled-peer", enabled=False), depth=1),
        reach(peer("untrusted", trusted=False), depth=3),
        reach(peer("no-runner", job_runner=False)),
        reach(peer("no-token", token=False)),
        reach(peer("assignment-off"), enabled=False, depth=1),
        # The same peer inherited twice counts once.
        reach(ok_direct, depth=3),
    ]
    assert [p.name for p in effective(found, Purpose.JOBS)] == ["a", "b"]
    assert effective(found, Purpose.SESSIONS) == []


def test_unusable_reasons_name_the_cause():
    assert unusable_because(peer("x", enabled=False), Purpose.JOBS) == "peer node disabled"
    assert "trust not established" in unusable_because(peer("x", trusted=False), Purpose.JOBS)
    assert "gateway" in unusable_because(peer("x"), Purpose.SESSIONS)
    assert unusable_because(peer("x"), Purpose.JOBS) is None


def test_random_pick_splits_evenly_over_two_equal_peers():
    peers = [peer("left"), peer("right")]
    rng = random.Random()
    firsts = Counter(attempt_order(peers, rng)[0].name for _ in range(1000))
    # Binomial(1000, 0.5) has a standard deviation near 16: 100 away is over six of them.
    assert abs(firsts["left"] - 500) < 100, firsts
    assert firsts["left"] + firsts["right"] == 1000


def test_failover_order_holds_every_peer_once():
    peers = [peer(name) for name in "abcde"]
    order = attempt_order(peers, random.Random(7))
    assert sorted(p.name for p in order) == list("abcde")
    assert attempt_order([], random.Random(1)) == []
