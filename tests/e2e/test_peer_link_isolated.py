"""A peer in a network that accepts no inbound connection, whose only way out is a real HTTP
proxy (tinyproxy) towards the main's HTTPS port: main <-> proxy <-> peer <-> datacenter, in
network namespaces on 10.78.x.y. The main has no route to the peer nor to the datacenter; the
peer enrols through the proxy, keeps its link through it, and a Unix Status Check on the
datacenter's sshd runs through the link with the peer's Node Signature."""

from __future__ import annotations

import time

from pamnode.lab.netns import proxied_peer_topology
from pamnode.lab.node_process import NodeProcess
from pamnode.lab.sshd import SshServer
from pamnode.lab.tinyproxy import TinyProxy
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.support.assets import add_asset
from tests.support.identity import PASSWORD, create_tenant, expect
from tests.support.jobs import wait_job
from tests.support.peers import (
    add_dialling_peer,
    check_connection,
    enrol_at_main,
    establish_trust,
    prepare_peer_site,
    wait_link,
)

PROXY_PORT = 3128


def _status_check(client, asset_id: str) -> dict:
    body = {"task": "unix-status-check", "timeout_s": 30}
    (job,) = expect(client.post(f"assets/{asset_id}/execute", json=body), 202)["jobs"]
    return wait_job(client, job["id"])


def test_a_peer_behind_a_proxy_serves_jobs_through_its_link(tmp_path):
    with proxied_peer_topology() as zones:
        sshd = SshServer(zones.datacenter_addr, 22, netns=zones.datacenter.name)
        main = NodeProcess(
            tmp_path / "main", "main-node", netns=zones.main.name, address=zones.admin_main_addr
        )
        proxy = TinyProxy(
            zones.proxy_addr,
            PROXY_PORT,
            [main.port],
            allow=zones.peer_proxy_addr,
            netns=zones.proxy.name,
        )
        # Its environment names the proxy, as an administrator's would.
        proxied = {"https_proxy": f"http://{zones.proxy_addr}:{PROXY_PORT}", "no_proxy": ""}
        peer = NodeProcess(
            tmp_path / "peer",
            "12P-remotePeer-dev",
            netns=zones.peer.name,
            address=zones.admin_peer_addr,
            env={**proxied, "NO_PROXY": "", "PAMNODE_LINK_BACKOFF_CAP_S": "2"},
        )
        try:
            sshd.start()
            proxy.start()
            for node in (main, peer):
                node.start(admin=(ADMIN_LOGIN, ADMIN_PASSWORD))
            jwt = prepare_peer_site(peer, "proxm-27")
            admin = create_tenant(main, "corp")
            peer_admin = peer.login("proxm-27", "root", "tadmin", PASSWORD)
            with main.client("corp", token=admin) as client:
                box = add_asset(client, "datacenter", "container")
                host = add_asset(
                    client,
                    "db-1",
                    "unix-host",
                    box["id"],
                    properties={"host": zones.datacenter_addr, "port": 22},
                    secrets={"username": sshd.user, "password": sshd.password},
                )
                direct = _status_check(client, host["id"])
                created = add_dialling_peer(client, "remote", peer, "proxm-27", jwt)
                issued = expect(client.post(f"peer-nodes/{created['id']}/enrolment-code"), 200)
            # The main's address as the proxy reaches it: the peer has no route there itself.
            main_origin = f"https://{zones.main_addr}:{main.port}"
            with peer.client("proxm-27", token=peer_admin) as on_peer:
                enrolled = enrol_at_main(
                    on_peer, main_origin, "corp", issued["code"], issued["main_sha256"]
                )
            expect(enrolled, 201)
            with main.client("corp", token=admin) as client:
                linked = wait_link(client, created["id"], connected=True)
                establish_trust(client, created["id"])
                checked = check_connection(client, created["id"])
                body = {"peer_node": "remote"}
                expect(client.post(f"assets/{box['id']}/peer-nodes", json=body), 201)
                started = time.monotonic()
                through = _status_check(client, host["id"])
                took = time.monotonic() - started
            carried = proxy.log_text()
        finally:
            for node in (peer, main):
                node.stop()
            proxy.stop()
            sshd.stop()
    assert direct["state"] == "failed" and direct["error_code"] == "network_unreachable", direct
    assert linked["link"]["connected"] is True
    assert checked["ok"] is True, checked
    assert through["state"] == "succeeded", through
    assert through["node_signature"] == "12P-remotePeer-dev::proxm-27::root"
    assert through["facts"]["user"] == sshd.user
    assert took < 30
    # Every way out of the peer went through the proxy, to the main's HTTPS port.
    assert f"CONNECT {zones.main_addr}:{main.port} " in carried, carried
