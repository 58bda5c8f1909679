"""A peer in a network that accepts no inbound connection, whose only way out is a real HTTP
proxy (tinyproxy) towards the main's HTTPS port: main <-> proxy <-> peer <-> datacenter, in
network namespaces on 10.78.x.y. The main has no route to the peer nor to the datacenter; the
peer enrols through the proxy, keeps its link through it, and Unix Status Checks on the
datacenter's sshd run through the link with the peer's Node Signature — also across the
link's cable pulled and put back mid-batch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pamnode.lab.netns import ProxiedPeerZones, proxied_peer_topology
from pamnode.lab.node_process import NodeProcess
from pamnode.lab.sshd import SshServer
from pamnode.lab.tinyproxy import TinyProxy
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.support.assets import add_asset
from tests.support.db import run_sql
from tests.support.identity import PASSWORD, create_tenant, expect
from tests.support.jobs import start_jobs, wait_job
from tests.support.peers import (
    add_dialling_peer,
    check_connection,
    enrol_at_main,
    establish_trust,
    prepare_peer_site,
    wait_link,
)

PROXY_PORT = 3128
SIGNATURE = "12P-remotePeer-dev::proxm-27::root"


@dataclass(frozen=True)
class Lab:
    zones: ProxiedPeerZones
    sshd: SshServer
    proxy: TinyProxy
    main: NodeProcess
    peer: NodeProcess
    admin: str


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("peer-link-isolated")
    with proxied_peer_topology() as zones:
        sshd = SshServer(zones.datacenter_addr, 22, netns=zones.datacenter.name)
        main = NodeProcess(
            workdir / "main", "main-node", netns=zones.main.name, address=zones.admin_main_addr
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
            workdir / "peer",
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
            yield Lab(zones, sshd, proxy, main, peer, create_tenant(main, "corp"))
        finally:
            for node in (peer, main):
                node.stop()
            proxy.stop()
            sshd.stop()


def _status_check(client, asset_id: str) -> dict:
    (job,) = start_jobs(client, asset_id, timeout_s=30)
    return wait_job(client, job["id"])


def test_a_peer_behind_a_proxy_serves_jobs_through_its_link(lab):
    zones, main, peer, sshd = lab.zones, lab.main, lab.peer, lab.sshd
    jwt = prepare_peer_site(peer, "proxm-27")
    peer_admin = peer.login("proxm-27", "root", "tadmin", PASSWORD)
    with main.client("corp", token=lab.admin) as client:
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
    with main.client("corp", token=lab.admin) as client:
        linked = wait_link(client, created["id"], connected=True)
        establish_trust(client, created["id"])
        checked = check_connection(client, created["id"])
        expect(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "remote"}), 201)
        through = _status_check(client, host["id"])
    assert direct["state"] == "failed" and direct["error_code"] == "network_unreachable", direct
    assert linked["link"]["connected"] is True
    assert checked["ok"] is True, checked
    assert through["state"] == "succeeded", through
    assert through["node_signature"] == SIGNATURE
    assert through["facts"]["user"] == sshd.user
    # Every way out of the peer went through the proxy, to the main's HTTPS port.
    assert f"CONNECT {zones.main_addr}:{main.port} " in lab.proxy.log_text()


def test_a_batch_survives_the_link_cut_and_put_back(lab):
    main, peer = lab.main, lab.peer
    with main.client("corp", token=lab.admin) as client:
        hosts = expect(client.get("assets", params={"type": "unix-host"}), 200)
        (host,) = [asset for asset in hosts if asset["name"] == "db-1"]
        (remote,) = expect(client.get("peer-nodes"), 200)
        script = {"name": "slow", "type": "shell", "body": "echo start; sleep 5; echo done"}
        expect(client.post("scripts", json=script), 201)
        jobs = [
            job
            for _ in range(4)
            for job in start_jobs(client, host["id"], task="script", script="slow", timeout_s=120)
        ]
        for job in jobs:
            wait_job(client, job["id"], timeout=30, states={"running", "succeeded"})
        lab.zones.cut(up=False)
        try:
            # Nothing arrives any more: the main sees the link dead within 15 s.
            wait_link(client, remote["id"], connected=False, timeout=20)
        finally:
            lab.zones.cut(up=True)
        wait_link(client, remote["id"], connected=True, timeout=30)
        done = [wait_job(client, job["id"], timeout=120) for job in jobs]
    assert [job["state"] for job in done] == ["succeeded"] * len(jobs), done
    assert all(job["node_signature"] == SIGNATURE and "done" in job["output"] for job in done)
    assert all(len(job["attempts"]) == 1 for job in done)
    # Each ran once: the peer holds one row per job, each ended once.
    for job in jobs:
        rows = run_sql(peer, "SELECT state FROM jobs WHERE id = :id", id=job["id"])
        assert rows == [("succeeded",)], (job["id"], rows)
