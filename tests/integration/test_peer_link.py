"""Peers that dial out: a real peer enrols at a real main with a one-time code, keeps a link
to the main's HTTPS port, and the main reaches it only through that link (the Peer Node's
address resolves nowhere): trust, Test Connection and a Unix Status Check with the peer's
Node Signature. Revocation closes the link; a restarted main is linked again."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import time
from typing import Any

import pytest

from pamnode.lab.openssh import OpenSshClient
from pamnode.lab.ports import free_port
from pamnode.lab.rdp import X224_CONNECTION_CONFIRM, X224_CONNECTION_REQUEST, RdpServer
from pamnode.lab.tinyproxy import TinyProxy
from pamnode.lab.tunnel_client import TunnelClient, run_command
from tests.support.assets import add_asset
from tests.support.cli import cli_env, log_in, run_cli
from tests.support.db import run_sql
from tests.support.identity import PASSWORD, add_user, create_tenant, error_of, expect
from tests.support.jobs import run_jobs, ssh_host, start_jobs, wait_job
from tests.support.peers import (
    UNREACHABLE,
    add_dialling_peer,
    cert_sha256,
    check_connection,
    enrol_at_main,
    establish_trust,
    prepare_peer_site,
    wait_link,
)
from tests.support.sessions import open_session, typescript, wait_session

PEER_TENANT = "proxm-28"
SSH_PROXY_PORT = free_port()
# Typed in a session, and checked as computed: the typescript holds it only if the shell ran it.
COMMAND = "echo marker-$((6*7))"
MARKER = "marker-42"


@pytest.fixture(scope="module")
def world(node_factory):
    main = node_factory("main", env={"PAMNODE_SSH_PROXY_PORT": str(SSH_PROXY_PORT)})
    # A short cap, so the restart test does not wait a minute for the next dial.
    peer = node_factory("peer-nat", env={"PAMNODE_LINK_BACKOFF_CAP_S": "2"})
    jwt = prepare_peer_site(peer, PEER_TENANT)
    main_admin = create_tenant(main, "corp")
    peer_admin = peer.login(PEER_TENANT, "root", "tadmin", PASSWORD)
    return main, peer, main_admin, peer_admin, jwt


def _linked(main, main_admin: str, peer, tenant: str, jwt: str, name: str, **fields: Any) -> dict:
    """A dialling Peer Node on the main, enrolled from the peer's site, its link up."""
    with main.client("corp", token=main_admin) as client:
        created = add_dialling_peer(client, name, peer, tenant, jwt, **fields)
        issued = expect(client.post(f"peer-nodes/{created['id']}/enrolment-code"), 200)
    peer_admin = peer.login(tenant, "root", "tadmin", PASSWORD)
    with peer.client(tenant, token=peer_admin) as on_peer:
        expect(
            enrol_at_main(on_peer, main.base_url, "corp", issued["code"], issued["main_sha256"]),
            201,
        )
    with main.client("corp", token=main_admin) as client:
        return wait_link(client, created["id"], connected=True)


def _enrolled(world, name: str) -> dict:
    main, peer, main_admin, _, jwt = world
    return _linked(main, main_admin, peer, PEER_TENANT, jwt, name)


def test_enrolment_refuses_a_wrong_code_fingerprint_and_a_reused_code(world):
    main, peer, main_admin, peer_admin, jwt = world
    with main.client("corp", token=main_admin) as client:
        created = add_dialling_peer(client, "nat-codes", peer, PEER_TENANT, jwt)
        assert created["connection_mode"] == "peer_dials"
        assert created["link"]["enrolled"] is False and created["link"]["connected"] is False
        issued = expect(client.post(f"peer-nodes/{created['id']}/enrolment-code"), 200)
    # The main shows its own certificate's fingerprint with the code.
    assert issued["main_sha256"] == cert_sha256(main)
    with peer.client(PEER_TENANT, token=peer_admin) as on_peer:
        wrong = error_of(
            enrol_at_main(on_peer, main.base_url, "corp", "nope", issued["main_sha256"]), 422
        )
        assert wrong["code"] == "enrolment_code_invalid"
        other = error_of(
            enrol_at_main(on_peer, main.base_url, "corp", issued["code"], "AB" * 32), 409
        )
        assert other["code"] == "main_fingerprint_mismatch"
        assert issued["main_sha256"] in other["message"]
        enrolled = expect(
            enrol_at_main(on_peer, main.base_url, "corp", issued["code"], issued["main_sha256"]),
            201,
        )
        again = error_of(
            enrol_at_main(on_peer, main.base_url, "corp", issued["code"], issued["main_sha256"]),
            409,
        )
    assert again["code"] == "enrolment_code_used"
    with main.client("corp", token=main_admin) as client:
        shown = expect(client.get(f"peer-nodes/{created['id']}"), 200)
        trail = expect(client.get("audit-events"), 200)
    assert shown["link"]["enrolled"] is True
    assert shown["link"]["key_sha256"] == enrolled["key_sha256"]
    actions = {event["action"] for event in trail if event["target"] == "nat-codes"}
    assert {"peer-node.link-code", "peer-node.link-enrol"} <= actions


def test_an_expired_code_is_refused(world):
    main, peer, main_admin, peer_admin, jwt = world
    with main.client("corp", token=main_admin) as client:
        created = add_dialling_peer(client, "nat-late", peer, PEER_TENANT, jwt)
        issued = expect(client.post(f"peer-nodes/{created['id']}/enrolment-code"), 200)
    # As if its 30 minutes had passed: it ran out when the Peer Node was made.
    run_sql(
        main,
        "UPDATE peer_nodes SET link_code_expires_at = created_at WHERE id = :id",
        id=created["id"],
    )
    with peer.client(PEER_TENANT, token=peer_admin) as on_peer:
        late = enrol_at_main(on_peer, main.base_url, "corp", issued["code"], issued["main_sha256"])
    assert error_of(late, 422)["code"] == "enrolment_code_expired"


def test_only_administrators_issue_codes_and_enrol(world):
    main, peer, main_admin, _, jwt = world
    with main.client("corp", token=main_admin) as client:
        created = add_dialling_peer(client, "nat-roles", peer, PEER_TENANT, jwt)
        add_user(client, "auditor-1", "auditor")
    auditor = main.login("corp", "root", "auditor-1", PASSWORD)
    with main.client("corp", token=auditor) as client:
        refused = client.post(f"peer-nodes/{created['id']}/enrolment-code")
    assert error_of(refused, 403)["code"] == "permission_denied"
    with peer.client(PEER_TENANT, token=peer.login(PEER_TENANT, "root", "tadmin", PASSWORD)) as p:
        add_user(p, "auditor-2", "auditor")
    on_peer_auditor = peer.login(PEER_TENANT, "root", "auditor-2", PASSWORD)
    with peer.client(PEER_TENANT, token=on_peer_auditor) as on_peer:
        denied = enrol_at_main(on_peer, main.base_url, "corp", "any", "AB" * 32)
    assert error_of(denied, 403)["code"] == "permission_denied"


def test_a_status_check_runs_through_the_link(world, sshd):
    main, peer, main_admin, _, _ = world
    linked = _enrolled(world, "nat1")
    assert linked["link"]["peer_version"] and linked["link"]["connected_since"]
    with main.client("corp", token=main_admin) as client:
        # Verify Trust reaches the peer's API through the link: the certificate is the peer's.
        pinned = establish_trust(client, linked["id"])
        assert pinned["sha256"] == cert_sha256(peer)
        checked = check_connection(client, linked["id"])
        assert (checked["ok"], checked["tenant"]) == (True, PEER_TENANT), checked
        box = add_asset(client, "behind-nat", "container")
        asset = ssh_host(client, sshd, "nat-web-1", box["id"])
        expect(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "nat1"}), 201)
        (job,) = run_jobs(client, asset["id"])
        shown = wait_link(client, linked["id"], connected=True)
    assert job["state"] == "succeeded", job
    assert job["node_signature"] == "peer-nat::proxm-28::root"
    assert [(a["peer_node"], a["outcome"]) for a in job["attempts"]] == [("nat1", "ran")]
    assert shown["link"]["last_heartbeat"] and shown["link"]["round_trip_ms"] is not None


def test_revoking_the_enrolment_closes_the_link(world):
    main, peer, main_admin, peer_admin, _ = world
    linked = _enrolled(world, "nat-revoked")
    with main.client("corp", token=main_admin) as client:
        establish_trust(client, linked["id"])
        expect(client.post(f"peer-nodes/{linked['id']}/revoke-link"), 204)
        # At once: no waiting for a heartbeat.
        shown = expect(client.get(f"peer-nodes/{linked['id']}"), 200)
        assert shown["link"]["connected"] is False and shown["link"]["enrolled"] is False
        down = check_connection(client, linked["id"])
        again = error_of(client.post(f"peer-nodes/{linked['id']}/revoke-link"), 409)
    assert (down["ok"], down["code"]) == (False, "link_down")
    assert again["code"] == "link_not_enrolled"
    with peer.client(PEER_TENANT, token=peer_admin) as on_peer:
        state = expect(on_peer.get("main-link"), 200)
    assert state["connected"] is False


def test_the_link_comes_back_after_the_main_restarts_mid_job(world, tmp_path, sshd):
    main, peer, main_admin, _, jwt = world
    with main.client("corp", token=main_admin) as client:
        created = add_dialling_peer(client, "nat-restart", peer, PEER_TENANT, jwt)
    # Both administrators' shells, with the CLI this time.
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD + "\n")
    on_main, on_peer = cli_env(tmp_path / "main"), cli_env(tmp_path / "peer")
    log_in(on_main, main, "corp", "tadmin", password_file)
    log_in(on_peer, peer, PEER_TENANT, "tadmin", password_file)
    issued = json.loads(run_cli(on_main, "peer", "enrolment-code", "nat-restart", "--json").stdout)
    main_url = f"{main.base_url}/ztna/corp/root"
    args = [
        "--main-url",
        main_url,
        "--code",
        issued["code"],
        "--fingerprint",
        issued["main_sha256"],
    ]
    run_cli(on_peer, "peer-link", "enrol", *args)
    reused = run_cli(on_peer, "peer-link", "enrol", *args, check=False)
    assert reused.returncode == 1 and "the enrolment code was used already" in reused.stderr
    with main.client("corp", token=main_admin) as client:
        linked = wait_link(client, created["id"], connected=True)
        establish_trust(client, created["id"])
        box = add_asset(client, "behind-restart", "container")
        asset = ssh_host(client, sshd, "restart-web", box["id"])
        body = {"peer_node": "nat-restart"}
        expect(client.post(f"assets/{box['id']}/peer-nodes", json=body), 201)
        script = {"name": "slow", "type": "shell", "body": "echo start; sleep 4; echo done"}
        expect(client.post("scripts", json=script), 201)
        (job,) = start_jobs(client, asset["id"], task="script", script="slow", timeout_s=60)
        wait_job(client, job["id"], timeout=15, states={"running"})
    # The main goes away mid-job: the link drops, the peer dials again, and the job is
    # followed to its end through the new link.
    main.restart()
    token = main.login("corp", "root", "tadmin", PASSWORD)
    with main.client("corp", token=token) as client:
        back = wait_link(client, linked["id"], connected=True)
        done = wait_job(client, job["id"])
    assert back["link"]["connected_since"] > linked["link"]["connected_since"]
    assert done["state"] == "succeeded", done
    assert "done" in done["output"] and len(done["attempts"]) == 1
    # Run once: the peer has the one job.
    assert run_sql(peer, "SELECT count(*) FROM jobs WHERE id = :id", id=job["id"]) == [(1,)]


def test_a_peer_behind_an_http_proxy_links_through_it(world, node_factory):
    main, _, main_admin, _, _ = world
    with TinyProxy("127.0.0.1", free_port(), [main.port]) as proxy:
        # Its only way out: the proxy its environment names (as curl reads it).
        env = {"https_proxy": proxy.url, "no_proxy": "", "NO_PROXY": ""}
        peer = node_factory("peer-proxied", env=env)
        jwt = prepare_peer_site(peer, "proxm-29")
        admin = peer.login("proxm-29", "root", "tadmin", PASSWORD)
        with main.client("corp", token=main_admin) as client:
            created = add_dialling_peer(client, "proxied", peer, "proxm-29", jwt)
            issued = expect(client.post(f"peer-nodes/{created['id']}/enrolment-code"), 200)
        with peer.client("proxm-29", token=admin) as on_peer:
            enrolled = enrol_at_main(
                on_peer, main.base_url, "corp", issued["code"], issued["main_sha256"]
            )
            expect(enrolled, 201)
        with main.client("corp", token=main_admin) as client:
            wait_link(client, created["id"], connected=True)
            establish_trust(client, created["id"])
            checked = check_connection(client, created["id"])
        carried = proxy.log_text()
    assert (checked["ok"], checked["tenant"]) == (True, "proxm-29"), checked
    # The fingerprint check, the enrolment and the link each went through the proxy.
    assert carried.count(f"CONNECT 127.0.0.1:{main.port} ") >= 3, carried


def _with_listener(world, node_factory, name: str, tenant: str, component: str) -> tuple:
    """A dialling peer with its gateway front or HTTP proxy, linked, both components trusted
    through the link; (the peer's process, its Peer Node)."""
    main, _, main_admin, _, _ = world
    capability = component.replace("-", "_")
    setting = f"PAMNODE_{capability.upper()}_PORT"
    peer = node_factory(f"peer-{name}", env={setting: str(free_port())})
    jwt = prepare_peer_site(peer, tenant)
    # The listener's address names it only: the main reaches it through the link.
    fields = {capability: True, f"{capability}_address": f"{UNREACHABLE}:4822"}
    created = _linked(main, main_admin, peer, tenant, jwt, name, **fields)
    with main.client("corp", token=main_admin) as client:
        establish_trust(client, created["id"])
        shown = establish_trust(client, created["id"], component)
    assert shown["sha256"] == cert_sha256(peer)
    return peer, created


def test_a_gateway_session_runs_through_the_link(world, node_factory, sshd):
    main, _, main_admin, _, _ = world
    _, created = _with_listener(world, node_factory, "gw", "proxm-30", "gateway")
    with main.client("corp", token=main_admin) as client:
        checked = check_connection(client, created["id"])
        assert [(c["component"], c["ok"]) for c in checked["components"]] == [
            ("job-runner", True),
            ("gateway", True),
        ], checked
        host = ssh_host(client, sshd, "gw-web")
        expect(client.post(f"assets/{host['id']}/peer-nodes", json={"peer_node": "gw"}), 201)
        opened = open_session(client, host["id"])
        seen = run_command(main, main_admin, opened["tunnel"], COMMAND)
        done = wait_session(client, opened["id"], {"completed", "failed"})
        # The recording is fetched from the peer's API, through the link too.
        carried = typescript(client, opened["id"])
    assert seen.opcodes["sync"] > 0 and not seen.errors
    assert done["state"] == "completed", done
    assert (done["peer_node"], done["node_signature"]) == ("gw", "peer-gw::proxm-30::root")
    assert MARKER in carried

    # The link drops under an active session (revoked here): the session ends failed, saying so.
    with main.client("corp", token=main_admin) as client:
        opened = open_session(client, host["id"])
        with TunnelClient(main, opened["tunnel"], main_admin) as tunnel:
            tunnel.settle(quiet_s=1.0, at_most_s=15)
            wait_session(client, opened["id"], {"active"})
            expect(client.post(f"peer-nodes/{created['id']}/revoke-link"), 204)
            cut = tunnel.pump(10)
        ended = wait_session(client, opened["id"], {"completed", "failed"})
    assert cut.closed
    assert ended["state"] == "failed", ended
    assert "the peer's link to this main dropped (the enrolment was revoked)" in ended["error"]


def test_a_frozen_peer_is_seen_dead_within_15_s_and_links_again(world):
    main, peer, main_admin, _, _ = world
    linked = _enrolled(world, "nat-frozen")
    assert peer.proc is not None
    # Frozen, not gone: its TCP connection stays open, only the heartbeats stop.
    os.kill(peer.proc.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        with main.client("corp", token=main_admin) as client:
            wait_link(client, linked["id"], connected=False, timeout=20)
            seen_after = time.monotonic() - stopped
    finally:
        os.kill(peer.proc.pid, signal.SIGCONT)
    assert seen_after < 15, seen_after
    with main.client("corp", token=main_admin) as client:
        back = wait_link(client, linked["id"], connected=True)
    assert back["link"]["connected_since"] > linked["link"]["connected_since"]


def test_ssh_exec_and_scp_through_the_peers_http_proxy_on_the_link(
    world, node_factory, sshd, tmp_path
):
    main, _, main_admin, _, _ = world
    _with_listener(world, node_factory, "px", "proxm-32", "http-proxy")
    with main.client("corp", token=main_admin) as client:
        host = ssh_host(client, sshd, "px-web")
        expect(client.post(f"assets/{host['id']}/peer-nodes", json={"peer_node": "px"}), 201)
    (tmp_path / "openssh").mkdir()
    ssh = OpenSshClient("127.0.0.1", SSH_PROXY_PORT, PASSWORD, tmp_path / "openssh")
    ssh.pin(main.data_dir / "ssh_proxy_host_key")
    ran = ssh.ssh("tadmin@corp/root#px-web", "echo", "through-the-link")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.decode().strip() == "through-the-link"
    # A few megabytes each way: a bulk transfer, in streams of the same link.
    payload = os.urandom(3 * 1024 * 1024)
    source, back = tmp_path / "bulk.bin", tmp_path / "back.bin"
    source.write_bytes(payload)
    remote = f"/tmp/pamnode-link-{time.monotonic_ns()}.bin"
    sent = ssh.run(
        "scp", "-P", str(SSH_PROXY_PORT), str(source), f"tadmin@corp#px-web@127.0.0.1:{remote}"
    )
    assert sent.returncode == 0, sent.stderr
    # scp refuses such a user name on a source; sftp takes its commands on stdin.
    fetched = ssh.run(
        "sftp",
        "-P",
        str(SSH_PROXY_PORT),
        "tadmin@corp#px-web@127.0.0.1",
        stdin=f"get {remote} {back}\nrm {remote}\n".encode(),
    )
    assert fetched.returncode == 0, fetched.stderr
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(payload).digest()
    with main.client("corp", token=main_admin) as client:
        page = expect(client.get("sessions", params={"limit": 5}), 200)
    row = next(r for r in page["sessions"] if r["asset_name"] == "px-web")
    assert (row["peer_node"], row["node_signature"]) == ("px", "peer-px::proxm-32::root")


def test_proxy_sessions_whose_link_drops_end_failed_peer_lost_saying_so(
    world, node_factory, sshd, tmp_path
):
    """The peer carrying a shell and an RDP pass-through over its link is killed: both rows
    end `failed peer_lost` naming the link's drop, and the shell's client reads it at once."""
    main, _, main_admin, _, _ = world
    peer, _ = _with_listener(world, node_factory, "pxk", "proxm-33", "http-proxy")
    with RdpServer("127.0.0.1", free_port()) as rdp:
        with main.client("corp", token=main_admin) as client:
            host = ssh_host(client, sshd, "pxk-web")
            desk = add_asset(
                client,
                "pxk-desk",
                "windows-host",
                properties={"host": "127.0.0.1", "session_port": rdp.port},
                secrets={"username": "someone", "password": "unused-here"},
            )
            for asset in (host, desk):
                body = {"peer_node": "pxk"}
                expect(client.post(f"assets/{asset['id']}/peer-nodes", json=body), 201)
            offer = expect(client.post(f"assets/{desk['id']}/rdp-proxy"), 201)
        (tmp_path / "openssh").mkdir()
        ssh = OpenSshClient("127.0.0.1", SSH_PROXY_PORT, PASSWORD, tmp_path / "openssh")
        ssh.pin(main.data_dir / "ssh_proxy_host_key")
        terminal = ssh.shell("tadmin@corp#pxk-web")
        try:
            terminal.expect("$ ")
            with socket.create_connection(("127.0.0.1", offer["port"]), timeout=10) as desktop:
                desktop.sendall(X224_CONNECTION_REQUEST)
                assert desktop.recv(19)[5] == X224_CONNECTION_CONFIRM
                with main.client("corp", token=main_admin) as client:
                    wait_session(client, offer["session_id"], {"active"})
                    page = expect(client.get("sessions", params={"state": "active"}), 200)
                (shell,) = [r for r in page["sessions"] if r["asset_name"] == "pxk-web"]
                peer.kill()
                terminal.expect("the peer's link to this main dropped", timeout=10)
                assert terminal.wait() != 0
                assert desktop.recv(65536) == b""
        finally:
            terminal.close()
    with main.client("corp", token=main_admin) as client:
        rows = [
            wait_session(client, sid, {"completed", "failed"}, timeout=15)
            for sid in (shell["id"], offer["session_id"])
        ]
    for row in rows:
        assert (row["state"], row["error_code"], row["peer_node"]) == (
            "failed",
            "peer_lost",
            "pxk",
        ), row
        assert row["error"].startswith(
            "peer node 'pxk' was lost in the middle of the session: the peer's link to this "
            "main dropped ("
        ), row
