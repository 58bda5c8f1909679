"""Nodes served in the test process (pamnode/lab/inprocess_node.py) are nodes of their own:
two serve side by side, and what is one per process is refused rather than shared wrongly."""

from __future__ import annotations

import httpx
import pytest

from pamnode.lab.served_node import tls_context
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.support.identity import create_tenant, expect


def test_two_nodes_serve_side_by_side_each_its_own(inprocess_node_factory):
    north = inprocess_node_factory("north")
    south = inprocess_node_factory("south")
    for node in (north, south):
        health = httpx.get(f"{node.base_url}/healthz", verify=tls_context(node.cert_path))
        assert expect(health, 200)["node"] == node.name
    create_tenant(north, "only-north")
    token = south.login("base", "root", ADMIN_LOGIN, ADMIN_PASSWORD)
    with south.client("base", token=token) as client:
        names = [tenant["name"] for tenant in expect(client.get("tenants"), 200)]
    assert "only-north" not in names
    # Each presents its own certificate: one node's is refused by a client pinning the other's.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{south.base_url}/healthz", verify=tls_context(north.cert_path))


def test_a_node_hashing_otherwise_is_refused_while_one_serves(inprocess_node_factory):
    inprocess_node_factory("light")
    with pytest.raises(RuntimeError, match="the profile is one per process"):
        inprocess_node_factory("standard", env={"PAMNODE_PASSWORD_HASH_PROFILE": "standard"})
