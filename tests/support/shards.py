"""Shards: the suite split into N pytest processes that run at once (scripts/test.sh starts
them; `PAMNODE_TEST_SHARD=i/N` names this one's share).

Most of the suite's wall time is waiting (a peer declared lost after its silence, a link
dialled again after its backoff, a node starting), not CPU: one process kept about half of
this machine's two CPUs busy (the whole suite, about 30 % idle in three shards). Four
processes that each wait for a quarter of the modules end in about 8.5 minutes, three in
about 9.5, instead of 25 in one (two: 13).

What keeps them apart:
- whole modules go to a shard, never single tests, so the nodes a module shares are built once;
- the modules that configure network namespaces all go to the first shard: their veths carry
  fixed addresses (10.77.x.y) in the root namespace, which two labs at once would both claim
  (the browser modules may run beside them: chromium has a namespace of its own, see
  tests/support/browser.py);
- each shard takes its TCP ports from a range of its own (`pamnode/lab/ports.py`, set by
  tests/support/shard_launch.py), so a port one shard was just given is never the other's;
- each shard starts its own PostgreSQL cluster, zygote and browser (session fixtures);
- the shards are forks of one interpreter that has imported pytest and pamnode
  (tests/support/shard_launch.py, started by scripts/test.sh).

Modules are balanced by their time in recorded runs (`shard_weights.json`: seconds per
module; a module not in it counts DEFAULT_WEIGHT_S). A module's time varies by 10-20 % from
run to run, so the weights are the sum over two whole runs. After the suite changed much,
record them again from the JUnit reports of two runs:

    bash scripts/test.sh --junitxml=/tmp/a.xml   # one file per shard: /tmp/a.xml.1 ...
    bash scripts/test.sh --junitxml=/tmp/b.xml
    .venv/bin/python -m tests.support.shards /tmp/a.xml.* /tmp/b.xml.*
"""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

WEIGHTS = Path(__file__).with_name("shard_weights.json")
DEFAULT_WEIGHT_S = 5.0
# Modules that set up network namespaces with fixed addresses: one shard holds them all.
NAMESPACES = (
    "tests/e2e/test_demo.py",
    "tests/e2e/test_isolated_datacenter.py",
    "tests/e2e/test_isolated_proxy.py",
    "tests/e2e/test_isolated_sessions.py",
    "tests/e2e/test_peer_link_isolated.py",
    "tests/integration/test_fault_matrix.py",
    "tests/integration/test_lab_netns.py",
    "tests/integration/test_executors_ssh.py",
    "tests/integration/test_lab_desktops.py",
)


def this_shard() -> tuple[int, int] | None:
    """(index from 0, count) of this process, or None when the suite is not sharded."""
    given = os.environ.get("PAMNODE_TEST_SHARD", "")
    if not given:
        return None
    index, _, count = given.partition("/")
    shard = (int(index) - 1, int(count))
    if not 0 <= shard[0] < shard[1]:
        raise pytest.UsageError(f"PAMNODE_TEST_SHARD={given}: want i/N with 1 <= i <= N")
    return shard


def assign(modules: list[str], weights: dict[str, float], count: int) -> dict[str, int]:
    """Each module's shard: the namespace modules to the first, then the heaviest module
    first to the lightest shard (the usual greedy balance)."""
    load = [0.0] * count
    placed: dict[str, int] = {}

    def weight(module: str) -> float:
        return weights.get(module, DEFAULT_WEIGHT_S)

    for module in modules:
        if module.startswith(NAMESPACES):
            placed[module] = 0
            load[0] += weight(module)
    for module in sorted(set(modules) - set(placed), key=lambda m: (-weight(m), m)):
        lightest = min(range(count), key=lambda shard: (load[shard], shard))
        placed[module] = lightest
        load[lightest] += weight(module)
    return placed


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Each shard its own JUnit report (`--junitxml=X` becomes X.1, X.2, ...).
    shard = this_shard()
    if shard is not None and getattr(config.option, "xmlpath", None):
        config.option.xmlpath = f"{config.option.xmlpath}.{shard[0] + 1}"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shard = this_shard()
    if shard is None:
        return
    index, count = shard
    modules = sorted({item.nodeid.split("::", 1)[0] for item in items})
    weights = json.loads(WEIGHTS.read_text()) if WEIGHTS.exists() else {}
    placed = assign(modules, weights, count)
    mine = [item for item in items if placed[item.nodeid.split("::", 1)[0]] == index]
    others = [item for item in items if placed[item.nodeid.split("::", 1)[0]] != index]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = mine


def record(reports: list[Path]) -> dict[str, float]:
    """Seconds per module (setup, call and teardown of its tests) from JUnit reports."""
    seconds: Counter[str] = Counter()
    for report in reports:
        for case in ET.parse(report).iter("testcase"):
            module = case.get("classname", "").replace(".", "/") + ".py"
            seconds[module] += float(case.get("time", "0"))
    return {module: round(total, 1) for module, total in sorted(seconds.items())}


if __name__ == "__main__":
    WEIGHTS.write_text(json.dumps(record([Path(arg) for arg in sys.argv[1:]]), indent=1) + "\n")
    print(f"wrote {WEIGHTS}")
