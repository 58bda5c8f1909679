"""The browser's own network (tests/support/browser.py): a namespace apart from the tests', so
the veths that the namespace modules add to the root namespace, in another shard at any moment,
never abort its page loads (net::ERR_NETWORK_CHANGED), yet it reaches the nodes as before."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import expect

from tests.support.identity import create_tenant


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name is in parentheses and may hold spaces: the parent comes after.
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended while we read
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _chromium_processes() -> list[int]:
    pids = []
    for pid in _descendants(os.getpid()):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "chromium":
                pids.append(pid)
        except OSError:
            continue
    return pids


def test_the_browser_runs_in_a_network_namespace_of_its_own_and_still_reaches_a_node(
    browser, node_factory, new_page
):
    node = node_factory("browsernet")
    create_tenant(node, "net")
    page = new_page()
    page.goto(f"{node.base_url}/ztna/net/root/login")
    expect(page.get_by_label("Password")).to_be_visible()

    ours = os.readlink("/proc/self/ns/net")
    browsers = _chromium_processes()
    assert browsers, "no chromium process found under this test process"
    theirs = {os.readlink(f"/proc/{pid}/ns/net") for pid in browsers}
    assert ours not in theirs, (ours, theirs)
