"""A peer in a network that accepts no inbound connection, whose only way out is a real HTTP
proxy (tinyproxy) towards the main's HTTPS port: main <-> proxy <-> peer <-> datacenter, in
network namespaces on 10.78.x.y. The main has no route to the peer nor to the datacenter; the
peer enrols through the proxy and keeps its link through it, and everything the main does in
the datacenter goes through that link: Unix Status Checks with the peer's Node Signature (also
across the link's cable pulled and put back mid-batch, and the peer killed mid-job), a browser
Access session through the peer's gateway, OpenSSH's ssh and scp on the main's SSH proxy out
through the peer's HTTP proxy, and an RDP pass-through to a real xrdp."""

from __future__ import annotations

import hashlib
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect as expect_page

from pamnode.lab.netns import ProxiedPeerZones, proxied_peer_topology
from pamnode.lab.node_process import NodeProcess
from pamnode.lab.openssh import OpenSshClient
from pamnode.lab.rdp import X224_CONNECTION_CONFIRM, X224_CONNECTION_REQUEST, RdpServer
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
from tests.support.sessions import wait_session
from tests.web.test_console_sessions import COLOURS
from tests.web.test_console_walkthrough import log_in, menu

PROXY_PORT = 3128
SSH_PROXY_PORT, GATEWAY_PORT, HTTP_PROXY_PORT, RDP_PORT = 2203, 4822, 8800, 3389
SIGNATURE = "12P-remotePeer-dev::proxm-27::root"
# The peer's listeners as the Peer Node names them: addresses in the peer's network, which the
# main cannot reach; it reaches them by name on the link.
GATEWAY = f"{ProxiedPeerZones.peer_proxy_addr}:{GATEWAY_PORT}"
HTTP_PROXY = f"{ProxiedPeerZones.peer_proxy_addr}:{HTTP_PROXY_PORT}"
# A job's deadline on the main is its timeout plus this grace: the killed peer's jobs end soon.
FOLLOW_GRACE_S = 5


@dataclass(frozen=True)
class Lab:
    zones: ProxiedPeerZones
    sshd: SshServer
    rdp: RdpServer
    proxy: TinyProxy
    main: NodeProcess
    peer: NodeProcess
    admin: str


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("peer-link-isolated")
    with proxied_peer_topology() as zones:
        sshd = SshServer(zones.datacenter_addr, 22, netns=zones.datacenter.name)
        rdp = RdpServer(zones.datacenter_addr, RDP_PORT, netns=zones.datacenter.name)
        main = NodeProcess(
            workdir / "main",
            "main-node",
            netns=zones.main.name,
            address=zones.admin_main_addr,
            env={
                "PAMNODE_SSH_PROXY_PORT": str(SSH_PROXY_PORT),
                "PAMNODE_PEER_FOLLOW_GRACE_S": str(FOLLOW_GRACE_S),
            },
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
            env={
                **proxied,
                "NO_PROXY": "",
                "PAMNODE_LINK_BACKOFF_CAP_S": "2",
                "PAMNODE_GATEWAY_PORT": str(GATEWAY_PORT),
                "PAMNODE_HTTP_PROXY_PORT": str(HTTP_PROXY_PORT),
            },
        )
        try:
            sshd.start()
            rdp.start()
            proxy.start()
            for node in (main, peer):
                node.start(admin=(ADMIN_LOGIN, ADMIN_PASSWORD))
            yield Lab(zones, sshd, rdp, proxy, main, peer, create_tenant(main, "corp"))
        finally:
            for node in (peer, main):
                node.stop()
            proxy.stop()
            rdp.stop()
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
        add_asset(
            client,
            "desk-1",
            "windows-host",
            box["id"],
            properties={"host": zones.datacenter_addr, "session_port": RDP_PORT},
            secrets={"username": lab.rdp.user, "password": lab.rdp.password},
        )
        direct = _status_check(client, host["id"])
        created = add_dialling_peer(
            client,
            "remote",
            peer,
            "proxm-27",
            jwt,
            gateway=True,
            gateway_address=GATEWAY,
            http_proxy=True,
            http_proxy_address=HTTP_PROXY,
        )
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
        for component in ("job-runner", "gateway", "http-proxy"):
            establish_trust(client, created["id"], component)
        checked = check_connection(client, created["id"])
        expect(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "remote"}), 201)
        through = _status_check(client, host["id"])
    assert direct["state"] == "failed" and direct["error_code"] == "network_unreachable", direct
    assert linked["link"]["connected"] is True
    assert checked["ok"] is True, checked
    assert [(c["component"], c["ok"]) for c in checked["components"]] == [
        ("job-runner", True),
        ("gateway", True),
        ("http-proxy", True),
    ], checked
    assert through["state"] == "succeeded", through
    assert through["node_signature"] == SIGNATURE
    assert through["facts"]["user"] == sshd.user
    # Every way out of the peer went through the proxy, to the main's HTTPS port.
    assert f"CONNECT {zones.main_addr}:{main.port} " in lab.proxy.log_text()


def _session_of(client, asset_name: str, channel: str) -> dict:
    """The newest session of the asset on that channel, once it has ended."""
    page = expect(client.get("sessions", params={"limit": 20}), 200)["sessions"]
    row = next(r for r in page if r["asset_name"] == asset_name and r["channel"] == channel)
    return wait_session(client, row["id"], {"completed", "failed"})


def _recording(client, session_id: str, kind: str, timeout: float = 60) -> str:
    """A recording the main fetches from the peer (through the link) once the session ended."""
    deadline = time.monotonic() + timeout
    while True:
        got = client.get(f"sessions/{session_id}/recording", params={"kind": kind})
        if got.status_code == 200 or time.monotonic() > deadline:
            assert got.status_code == 200, got.text
            return got.text
        time.sleep(0.5)


def test_a_browser_session_is_drawn_through_the_peers_gateway(lab, new_page):
    main = lab.main
    page = new_page()
    log_in(page, f"{main.base_url}/ztna/corp/root", "tadmin")
    menu(page, "Asset library")
    page.get_by_role("navigation", name="Containers and assets").get_by_role(
        "link", name="db-1"
    ).click()
    page.get_by_role("button", name="Access db-1: open a remote session").click()
    display = page.locator("#session-display")
    expect_page(display).to_have_attribute("data-state", "connected", timeout=30_000)
    page.wait_for_timeout(1500)
    display.focus()
    page.keyboard.type("echo marker-$((6*7)); hostname -I")
    page.keyboard.press("Enter")
    page.wait_for_timeout(1500)
    colours = page.evaluate(COLOURS % "pamnodeSession")
    page.get_by_role("button", name="Disconnect").click()
    expect_page(page.locator("#session-state")).to_have_text("disconnected")
    with main.client("corp", token=lab.admin) as client:
        row = _session_of(client, "db-1", "SSH")
        typed = _recording(client, row["id"], "typescript")
    assert colours > 1
    assert row["state"] == "completed", row
    assert (row["peer_node"], row["node_signature"], row["gateway"]) == (
        "remote",
        SIGNATURE,
        GATEWAY,
    )
    # The shell that drew it runs in the datacenter: its only address is there.
    assert "marker-42" in typed
    assert lab.zones.datacenter_addr in typed.split("hostname -I", 1)[1]


def test_ssh_and_scp_go_out_through_the_peers_http_proxy(lab, tmp_path):
    zones, main = lab.zones, lab.main
    ssh = OpenSshClient(zones.admin_main_addr, SSH_PROXY_PORT, PASSWORD, tmp_path)
    ssh.pin(main.data_dir / "ssh_proxy_host_key")
    user = "tadmin@corp#datacenter/db-1"
    done = ssh.ssh(user, "hostname -I")
    assert done.returncode == 0, done.stderr
    assert zones.datacenter_addr in done.stdout.decode().split()
    payload = bytes(range(256)) * 8192
    (tmp_path / "up.bin").write_bytes(payload)
    # A name of this run's own (see test_isolated_proxy).
    remote = f"/tmp/pamnode-e2e-link-{time.monotonic_ns()}.bin"
    # A '/' in the user name reads as a local path to scp: the user is given as an option.
    as_user = ["-P", str(SSH_PROXY_PORT), "-o", f"User={user}"]
    sent = ssh.run("scp", *as_user, str(tmp_path / "up.bin"), f"{ssh.host}:{remote}")
    assert sent.returncode == 0, sent.stderr
    back = ssh.run("scp", *as_user, f"{ssh.host}:{remote}", str(tmp_path / "down.bin"))
    assert back.returncode == 0, back.stderr
    # The datacenter's namespace shares this machine's filesystem.
    Path(remote).unlink()
    down = (tmp_path / "down.bin").read_bytes()
    assert hashlib.sha256(down).digest() == hashlib.sha256(payload).digest()
    with main.client("corp", token=lab.admin) as client:
        rows = [_session_of(client, "db-1", channel) for channel in ("SSHP:Exec", "SSHP:SFTP")]
    for row in rows:
        assert row["state"] == "completed", row
        assert (row["peer_node"], row["node_signature"], row["gateway"]) == (
            "remote",
            SIGNATURE,
            HTTP_PROXY,
        )
        assert row["bytes_in"] > 0 and row["bytes_out"] > 0


def test_an_rdp_pass_through_reaches_xrdp_in_the_datacenter(lab):
    zones, main = lab.zones, lab.main
    with main.client("corp", token=lab.admin) as client:
        desks = expect(client.get("assets", params={"type": "windows-host"}), 200)
        (desk,) = [asset for asset in desks if asset["name"] == "desk-1"]
        offer = expect(client.post(f"assets/{desk['id']}/rdp-proxy"), 201)
        assert offer["host"] == zones.admin_main_addr
        with socket.create_connection((offer["host"], offer["port"]), timeout=15) as raw:
            raw.sendall(X224_CONNECTION_REQUEST)
            assert raw.recv(19)[5] == X224_CONNECTION_CONFIRM
            # It asked for TLS: the certificate that answers is xrdp's own, in the datacenter.
            unverified = ssl.create_default_context()
            unverified.check_hostname, unverified.verify_mode = False, ssl.CERT_NONE
            with unverified.wrap_socket(raw) as tls:
                presented = tls.getpeercert(binary_form=True)
                wait_session(client, offer["session_id"], {"active"})
        row = wait_session(client, offer["session_id"], {"completed", "failed"})
    assert lab.rdp.dir is not None
    xrdp = ssl.PEM_cert_to_DER_cert((lab.rdp.dir / "tls" / "cert.pem").read_text())
    assert presented == xrdp
    assert (row["channel"], row["state"], row["peer_node"]) == ("RDPP", "completed", "remote"), row
    assert (row["node_signature"], row["gateway"]) == (SIGNATURE, HTTP_PROXY)
    assert row["bytes_in"] > 0 and row["bytes_out"] > 0


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


def test_jobs_on_a_killed_peer_end_peer_lost_and_the_peer_links_again(lab):
    main, peer = lab.main, lab.peer
    with main.client("corp", token=lab.admin) as client:
        hosts = expect(client.get("assets", params={"type": "unix-host"}), 200)
        (host,) = [asset for asset in hosts if asset["name"] == "db-1"]
        (remote,) = expect(client.get("peer-nodes"), 200)
        script = {"name": "long", "type": "shell", "body": "echo start; sleep 60; echo done"}
        expect(client.post("scripts", json=script), 201)
        jobs = [
            job
            for _ in range(3)
            for job in start_jobs(client, host["id"], task="script", script="long", timeout_s=10)
        ]
        for job in jobs:
            wait_job(client, job["id"], timeout=30, states={"running"})
        peer.kill()
        try:
            wait_link(client, remote["id"], connected=False, timeout=20)
            # Within the job's timeout and the follow grace (and the poll's own pace).
            lost = [wait_job(client, job["id"], timeout=40) for job in jobs]
        finally:
            peer.start()
        wait_link(client, remote["id"], connected=True, timeout=60)
        again = _status_check(client, host["id"])
    for job in lost:
        assert (job["state"], job["error_code"]) == ("failed", "peer_lost"), job
        assert "lost contact with peer node 'remote'" in job["error"], job
        assert [(a["peer_node"], a["outcome"]) for a in job["attempts"]] == [("remote", "lost")]
    assert again["state"] == "succeeded" and again["node_signature"] == SIGNATURE, again
