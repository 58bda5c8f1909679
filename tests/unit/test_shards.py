"""The suite's split into shards (tests/support/shards.py): every module runs in exactly one
shard, the network-namespace modules all in the first, and the heaviest modules
spread out."""

from __future__ import annotations

from tests.support.shards import NAMESPACES, assign

NAMESPACED = ["tests/e2e/test_demo.py", "tests/integration/test_fault_matrix.py"]


def test_namespace_modules_share_the_first_shard_and_the_rest_balance():
    weights = {NAMESPACED[0]: 30.0, NAMESPACED[1]: 130.0, "a.py": 120.0, "b.py": 100.0}
    weights |= {f"small_{n}.py": 10.0 for n in range(6)}
    placed = assign(sorted(weights), weights, 3)
    assert sorted(placed) == sorted(weights)
    assert {placed[m] for m in NAMESPACED} == {0}
    assert all(m.startswith(NAMESPACES) for m in NAMESPACED)
    # The two other heavy modules do not pile onto the first shard or onto each other.
    assert {placed["a.py"], placed["b.py"]} == {1, 2}
    load = [sum(w for m, w in weights.items() if placed[m] == s) for s in range(3)]
    assert max(load) - min(load) <= 40.0, load


def test_a_module_without_a_recorded_time_is_still_placed():
    placed = assign(["new.py", NAMESPACED[0]], {}, 2)
    assert placed == {NAMESPACED[0]: 0, "new.py": 1}
