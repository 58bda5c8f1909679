"""The product's reason to exist: a datacenter the main node cannot reach, served by a peer.

Three network namespaces: main <-> peer <-> datacenter. A real sshd listens in the datacenter;
the main node has no route to it, the peer does. The administrator (this test) reaches both
nodes over links of its own.
"""

from __future__ import annotations

import time

from tests.support.identity import create_tenant, expect
from tests.support.isolated import datacenter_host, isolated_lab
from tests.support.peers import add_peer, establish_trust, prepare_peer_site

FINISHED = {"succeeded", "failed", "cancelled", "timed_out"}


def run_check(client, asset_id):
    body = {"task": "unix-status-check", "timeout_s": 30}
    (job,) = expect(client.post(f"assets/{asset_id}/execute", json=body), 202)["jobs"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        details = expect(client.get(f"jobs/{job['id']}"), 200)
        if details["state"] in FINISHED:
            return details
        time.sleep(0.3)
    raise AssertionError(f"job {job['id']} did not finish")


def test_status_check_fails_direct_and_succeeds_through_the_peer(tmp_path):
    with isolated_lab(tmp_path) as lab:
        zones, sshd, main, peer = lab.zones, lab.sshd, lab.main, lab.peer
        jwt = prepare_peer_site(peer, "proxm-27")
        admin = create_tenant(main, "corp")
        with main.client("corp", token=admin) as client:
            box, asset = datacenter_host(client, lab)

            direct = run_check(client, asset["id"])
            assert direct["state"] == "failed", direct
            assert direct["error_code"] == "network_unreachable"
            assert f"{zones.datacenter_addr}:22" in direct["error"]
            assert direct["node_signature"] == "main-node::corp::root"

            created = add_peer(
                client, "remote", peer, "proxm-27", jwt, peer_address=zones.peer_main_addr
            )
            establish_trust(client, created["id"])
            report = expect(client.post(f"peer-nodes/{created['id']}/test-connection"), 200)
            assert report["ok"] is True, report
            expect(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "remote"}), 201)

            through_peer = run_check(client, asset["id"])
        assert through_peer["state"] == "succeeded", through_peer
        assert through_peer["node_signature"] == "12P-remotePeer-dev::proxm-27::root"
        assert through_peer["peer_node"] == "remote"
        assert through_peer["facts"]["user"] == sshd.user
