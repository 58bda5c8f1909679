"""Remote sessions on loopback: real guacd behind real nodes, a real sshd, the tunnel spoken by
a program. The isolated-network version (main cannot reach the datacenter) is in tests/e2e."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import time

import pytest

from pamnode.lab.node_process import NodeProcess
from pamnode.lab.ports import free_port
from pamnode.lab.rdp import RdpServer
from pamnode.lab.sshd import SshServer
from pamnode.lab.tunnel_client import QUIET_S, TunnelClient, run_command
from pamnode.lab.vnc import VncServer
from pamnode.sessions.guacamole.protocol import Scanner, encode
from tests.support.assets import add_asset
from tests.support.cli import cli_env, log_in, run_cli
from tests.support.db import run_sql
from tests.support.identity import PASSWORD, add_user, create_tenant, error_of, expect
from tests.support.jobs import run_jobs, ssh_host
from tests.support.peers import add_trusted_peer, cert_sha256, prepare_peer_site
from tests.support.sessions import open_session, recording_sha256, typescript, wait_session

PEER_TENANT = "dc-east"
# Typed, and checked as computed: the typescript holds it only if the shell ran it.
COMMAND = "echo marker-$((6*7))"
MARKER = "marker-42"
TICKET_TTL_S = 3


def _gateway_node(node_factory, name: str) -> tuple[NodeProcess, int]:
    port = free_port()
    env = {"PAMNODE_GATEWAY_PORT": str(port), "PAMNODE_SESSION_TICKET_TTL_S": str(TICKET_TTL_S)}
    return node_factory(name, env=env), port


@pytest.fixture(scope="module")
def lab(node_factory, sshd):
    main = node_factory("main")
    peer, gateway_port = _gateway_node(node_factory, "peer-east")
    jwt = prepare_peer_site(peer, PEER_TENANT)
    admin = create_tenant(main, "corp")
    with main.client("corp", token=admin) as client:
        created = add_trusted_peer(
            client,
            "east",
            peer,
            PEER_TENANT,
            jwt,
            "gateway",
            gateway=True,
            gateway_address=f"127.0.0.1:{gateway_port}",
        )
    return {
        "main": main,
        "peer": peer,
        "admin": admin,
        "jwt": jwt,
        "peer_id": created["id"],
        "gateway_port": gateway_port,
    }


@pytest.fixture
def main_client(lab):
    with lab["main"].client("corp", token=lab["admin"]) as client:
        yield client


def test_session_on_the_mains_own_guacd(lab, main_client, sshd):
    host = ssh_host(main_client, sshd, "local-web")
    opened = open_session(main_client, host["id"])
    assert (opened["state"], opened["protocol"]) == ("pending", "ssh")
    seen = run_command(lab["main"], lab["admin"], opened["tunnel"], COMMAND)
    assert seen.uuid == opened["id"] and seen.opcodes["sync"] > 0 and not seen.errors

    done = wait_session(main_client, opened["id"], {"completed", "failed"})
    assert done["state"] == "completed", done
    assert done["gateway"].endswith("(this node)") and done["peer_node"] is None
    assert done["node_signature"] == "main::corp::root"
    assert [a["outcome"] for a in done["attempts"]] == ["connected"]
    assert set(done["recordings"]) == {"recording", "typescript", "asciicast"}
    assert done["bytes_in"] > 1000
    assert MARKER in typescript(main_client, opened["id"])
    # Each recording's SHA-256 was kept as the session ended, and is the file's.
    assert done["recording_hashes"] == {
        kind: recording_sha256(main_client, opened["id"], kind) for kind in done["recordings"]
    }
    actions = {row[0] for row in run_sql(lab["main"], "SELECT action FROM audit_events")}
    assert {"session.open", "session.start", "session.end"} <= actions


def test_session_through_the_peers_gateway(lab, main_client, sshd):
    host = ssh_host(main_client, sshd, "peer-web")
    expect(
        main_client.post(
            f"assets/{host['id']}/peer-nodes", json={"peer_node": "east", "enabled": True}
        ),
        201,
    )
    opened = open_session(main_client, host["id"])
    seen = run_command(lab["main"], lab["admin"], opened["tunnel"], COMMAND)
    assert seen.opcodes["sync"] > 0 and not seen.errors

    done = wait_session(main_client, opened["id"], {"completed", "failed"})
    assert done["state"] == "completed", done
    assert done["gateway"] == f"127.0.0.1:{lab['gateway_port']}"
    assert (done["peer_node"], done["node_signature"]) == (
        "east",
        f"peer-east::{PEER_TENANT}::root",
    )
    assert MARKER in typescript(main_client, opened["id"])
    # The main hashed the copies it fetched from the peer.
    assert set(done["recording_hashes"]) == {"recording", "typescript", "asciicast"}
    assert done["recording_hashes"]["typescript"] == recording_sha256(
        main_client, opened["id"], "typescript"
    )
    # The peer recorded what its gateway carried, and holds no credential.
    rows = run_sql(
        lab["peer"],
        "SELECT state, origin, requested_by FROM sessions WHERE id = :id",
        id=opened["id"],
    )
    assert rows == [("completed", "peer", "svc-main (main node)")]
    assert sshd.password not in lab["peer"].log_text()


def _front(lab) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(lab["peer"].cert_path))
    context.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", lab["gateway_port"]), timeout=10)
    return context.wrap_socket(raw)


def _answer(sock: ssl.SSLSocket) -> list:
    scanner = Scanner()
    while not (found := scanner.take()):
        data = sock.recv(65536)
        if not data:
            return []
        scanner.feed(data.decode())
    return found


def _ask_peer(lab, sshd, session_id: str):
    with lab["peer"].client(PEER_TENANT, token=lab["jwt"]) as peer_api:
        body = {
            "id": session_id,
            "target": {"host": sshd.address, "port": sshd.port, "protocol": "ssh"},
            "credential": {"username": sshd.user, "password": sshd.password},
        }
        return peer_api.post("peer/sessions", json=body)


def _ticket(lab, sshd, session_id: str) -> str:
    return expect(_ask_peer(lab, sshd, session_id), 201)["ticket"]


def _guacd_connections(lab) -> int:
    log = lab["peer"].data_dir / "logs" / "guacd.log"
    return log.read_text().count("Creating new client") if log.exists() else 0


def test_the_front_refuses_without_a_good_ticket(lab, sshd):
    before = _guacd_connections(lab)
    with _front(lab) as sock:
        sock.sendall(encode("select", "ssh").encode())
        [error] = _answer(sock)
    assert error.opcode == "error" and error.args[1] == str(0x0301)
    assert "must carry a session ticket" in error.args[0]

    with _front(lab) as sock:
        sock.sendall(encode("ticket", "not-a-ticket").encode())
        [error] = _answer(sock)
    assert "not known" in error.args[0]

    ticket = _ticket(lab, sshd, "a1a1a1a1-0000-0000-0000-000000000001")
    with _front(lab) as sock:
        sock.sendall(encode("ticket", ticket, "800", "600", "96", "").encode())
        assert _answer(sock)[0].opcode == "ready"
    with _front(lab) as sock:
        sock.sendall(encode("ticket", ticket).encode())
        [error] = _answer(sock)
    assert "used already" in error.args[0]

    stale = _ticket(lab, sshd, "a1a1a1a1-0000-0000-0000-000000000002")
    time.sleep(TICKET_TTL_S + 0.5)
    with _front(lab) as sock:
        sock.sendall(encode("ticket", stale).encode())
        [error] = _answer(sock)
    assert "expired" in error.args[0]
    # Only the one good ticket reached guacd.
    assert _guacd_connections(lab) == before + 1


def test_test_connection_checks_the_gateway_at_its_address(lab, main_client):
    """Test Connection reaches the gateway front itself, not only the API: a Gateway Address
    that names the peer's API port (same certificate, so trust is established without a
    word) is not OK, and the report names the gateway and the address."""
    report = expect(main_client.post(f"peer-nodes/{lab['peer_id']}/test-connection"), 200)
    assert report["ok"] is True, report
    checked = {c["component"]: (c["ok"], c["address"]) for c in report["components"]}
    assert checked == {
        "job-runner": (True, f"{lab['peer'].base_url}/ztna/{PEER_TENANT}/root"),
        "gateway": (True, f"127.0.0.1:{lab['gateway_port']}"),
    }

    # The address to enter is the one the peer's start names.
    assert (
        f"gateway front (remote sessions) on 127.0.0.1:{lab['gateway_port']}, with the same "
        "certificate: a main's Gateway Address"
    ) in lab["peer"].log_text()

    typo = f"127.0.0.1:{lab['peer'].port}"
    created = add_trusted_peer(
        main_client,
        "east-typo",
        lab["peer"],
        PEER_TENANT,
        lab["jwt"],
        "gateway",
        gateway=True,
        gateway_address=typo,
    )
    try:
        report = expect(main_client.post(f"peer-nodes/{created['id']}/test-connection"), 200)
        assert (report["ok"], report["code"]) == (False, "wrong_listener"), report
        assert report["reason"].startswith(f"Gateway at {typo}: the server there is not")
        [gateway] = [c for c in report["components"] if c["component"] == "gateway"]
        assert (gateway["ok"], gateway["address"]) == (False, typo)
        # The API half still answered: the one wrong component is named, not the peer.
        [api] = [c for c in report["components"] if c["component"] == "job-runner"]
        assert api["ok"] is True and report["node"] == "peer-east"
    finally:
        expect(main_client.delete(f"peer-nodes/{created['id']}"), 204)


def _tree(root) -> set:
    return set(root.rglob("*"))


def test_a_session_id_that_is_not_a_uuid_never_reaches_guacd(lab, sshd):
    """guacd writes its recording and typescript where the id points: `..` in an id sent to
    `POST peer/sessions` would put them outside the recordings directory."""
    data = lab["peer"].data_dir
    before, connections = _tree(data), _guacd_connections(lab)
    for session_id in ("..", "../escaped", "../../../../tmp/x", "A1A1A1A1-0000-0000-0000-0000"):
        answer = _ask_peer(lab, sshd, session_id)
        if answer.status_code == 201:
            # Today's hole, shown whole: the ticket carried through the front to guacd.
            with _front(lab) as sock:
                ticket = answer.json()["ticket"]
                sock.sendall(encode("ticket", ticket, "800", "600", "96", "").encode())
                _answer(sock)
                time.sleep(2)
        assert error_of(answer, 422)["code"] == "invalid_session_id", session_id
        assert run_sql(lab["peer"], "SELECT id FROM sessions WHERE id = :id", id=session_id) == []
    assert _guacd_connections(lab) == connections
    assert not (data / "escaped").exists()
    written = _tree(data) - before
    assert all(path.is_relative_to(data / "logs") for path in written), written


def test_a_viewer_cannot_open_and_others_cannot_attach(lab, main_client, sshd):
    host = ssh_host(main_client, sshd, "guarded")
    add_user(main_client, "vera")
    expect(
        main_client.post(
            f"assets/{host['id']}/permissions", json={"principal": "vera", "role": "viewer"}
        ),
        201,
    )
    vera = lab["main"].login("corp", "root", "vera", PASSWORD)
    with lab["main"].client("corp", token=vera) as client:
        refused = error_of(client.post(f"assets/{host['id']}/sessions"), 403)
    assert refused["code"] == "asset_permission_denied"
    assert "open sessions on" in refused["message"]

    opened = open_session(main_client, host["id"])
    other_admin = create_tenant(lab["main"], "other")
    elsewhere = opened["tunnel"].replace("/corp/", "/other/")
    with TunnelClient(lab["main"], elsewhere, other_admin) as intruder:
        seen = intruder.pump(5)
    assert seen.errors and "no session" in seen.errors[0][0]
    assert wait_session(main_client, opened["id"], {"pending"})["state"] == "pending"


@pytest.fixture(scope="module")
def west(lab, node_factory):
    """A second peer with a gateway, for spreading, failover and a wrong pin."""
    peer, gateway_port = _gateway_node(node_factory, "peer-west")
    jwt = prepare_peer_site(peer, PEER_TENANT)
    with lab["main"].client("corp", token=lab["admin"]) as client:
        created = add_trusted_peer(
            client,
            "west",
            peer,
            PEER_TENANT,
            jwt,
            "gateway",
            gateway=True,
            gateway_address=f"127.0.0.1:{gateway_port}",
        )
    return {"node": peer, "gateway_port": gateway_port, "id": created["id"]}


def _assign(client, asset_id: str, *peers: str) -> None:
    for name in peers:
        body = {"peer_node": name, "enabled": True}
        expect(client.post(f"assets/{asset_id}/peer-nodes", json=body), 201)


def _attach_once(lab, client, asset_id: str) -> dict:
    opened = open_session(client, asset_id)
    with TunnelClient(lab["main"], opened["tunnel"], lab["admin"]) as tunnel:
        tunnel.pump(15, until="sync")
    return wait_session(client, opened["id"], {"completed", "failed"})


def test_two_gateways_share_sessions_and_fail_over(lab, west, main_client, sshd):
    dc = expect(main_client.post("assets", json={"name": "dc-spread", "type": "container"}), 201)
    host = ssh_host(main_client, sshd, "spread-web", dc["id"])
    _assign(main_client, dc["id"], "east", "west")
    used = {_attach_once(lab, main_client, host["id"])["peer_node"] for _ in range(10)}
    assert used == {"east", "west"}

    west["node"].stop()
    try:
        attempts: list[dict] = []
        for _ in range(12):
            done = _attach_once(lab, main_client, host["id"])
            assert (done["state"], done["peer_node"]) == ("completed", "east"), done
            attempts = done["attempts"]
            if len(attempts) == 2:
                break
        first, second = attempts
        assert (first["peer_node"], first["outcome"]) == ("west", "failed")
        assert first["error"] and (second["peer_node"], second["outcome"]) == ("east", "connected")
    finally:
        west["node"].start()


def test_a_changed_gateway_certificate_is_refused_naming_both(lab, west, main_client, sshd):
    east_gateway = f"127.0.0.1:{lab['gateway_port']}"
    created = add_trusted_peer(
        main_client,
        "relabelled",
        lab["peer"],
        PEER_TENANT,
        lab["jwt"],
        "gateway",
        gateway=True,
        gateway_address=f"127.0.0.1:{west['gateway_port']}",
    )
    # The address now reaches another gateway under the same pin, as when its name moves to
    # another machine (a PATCH of the address would drop the pin instead).
    run_sql(
        lab["main"],
        "UPDATE peer_nodes SET gateway_address = :address WHERE id = :id",
        address=east_gateway,
        id=created["id"],
    )
    host = ssh_host(main_client, sshd, "relabelled-web")
    _assign(main_client, host["id"], "relabelled")

    opened = open_session(main_client, host["id"])
    with TunnelClient(lab["main"], opened["tunnel"], lab["admin"]) as tunnel:
        seen = tunnel.pump(30, until="error")
    assert seen.errors and "no gateway could carry the session" in seen.errors[0][0]
    done = wait_session(main_client, opened["id"], {"failed"})
    assert done["error_code"] == "all_gateways_failed"
    [attempt] = done["attempts"]
    assert cert_sha256(west["node"]) in attempt["error"]
    assert cert_sha256(lab["peer"]) in attempt["error"]
    assert "certificate changed" in attempt["error"]


def _desktop_session(lab, client, name: str, protocol: str, port: int, secrets: dict) -> tuple:
    host = add_asset(
        client,
        name,
        "unix-host",
        properties={"host": "127.0.0.1", "protocol": protocol, "session_port": port},
        secrets=secrets,
    )
    opened = open_session(client, host["id"])
    assert opened["protocol"] == protocol
    with TunnelClient(lab["main"], opened["tunnel"], lab["admin"]) as tunnel:
        tunnel.pump(30, until="img")
        seen = tunnel.pump(3)
    return seen, wait_session(client, opened["id"], {"completed", "failed"})


def test_vnc_session_draws_a_first_frame(lab, main_client):
    with VncServer("127.0.0.1", free_port()) as vnc:
        seen, done = _desktop_session(
            lab, main_client, "vnc-desk", "vnc", vnc.port, {"password": vnc.password}
        )
    assert seen.opcodes["img"] > 0 and seen.opcodes["sync"] > 0 and not seen.errors, seen
    assert done["state"] == "completed" and "recording" in done["recordings"], done


def test_rdp_session_logs_in_to_xrdp_and_draws(lab, main_client):
    with RdpServer("127.0.0.1", free_port()) as rdp:
        seen, done = _desktop_session(
            lab,
            main_client,
            "rdp-desk",
            "rdp",
            rdp.port,
            {"username": rdp.user, "password": rdp.password},
        )
        log = rdp.log_text()
    assert seen.opcodes["img"] > 0 and not seen.errors, seen
    # xrdp's own login screen draws too: the session started for the vault's user proves
    # the credential went through.
    assert f"Session started successfully for user {rdp.user}" in log, log[-2000:]
    assert done["state"] == "completed", done


def test_an_administrator_terminates_an_active_session(lab, main_client, sshd):
    host = ssh_host(main_client, sshd, "terminated-web")
    opened = open_session(main_client, host["id"])
    with TunnelClient(lab["main"], opened["tunnel"], lab["admin"]) as tunnel:
        tunnel.pump(15, until="sync")
        ended = expect(main_client.post(f"sessions/{opened['id']}/terminate"), 200)
        tunnel.pump(5)
        assert tunnel.seen.closed
    assert (ended["state"], ended["terminated_by"]) == ("completed", "tadmin")
    again = error_of(main_client.post(f"sessions/{opened['id']}/terminate"), 422)
    assert again["code"] == "session_finished"


def test_a_session_checks_the_host_key_a_job_pinned(lab, main_client):
    with SshServer("127.0.0.1", free_port()) as server:
        # Its own name each run, so the test can be repeated against one node (issue 25's
        # 20-runs check).
        host = ssh_host(main_client, server, f"pinned-web-{server.port}")
        [job] = run_jobs(main_client, host["id"])
        assert job["state"] == "succeeded", job

        opened = open_session(main_client, host["id"])
        run_command(lab["main"], lab["admin"], opened["tunnel"], COMMAND)
        assert (
            wait_session(main_client, opened["id"], {"completed", "failed"})["state"] == "completed"
        )

        server.replace_host_key()
        impostor = open_session(main_client, host["id"])
        with TunnelClient(lab["main"], impostor["tunnel"], lab["admin"]) as tunnel:
            seen = tunnel.pump(30, until="error")
        assert seen.errors, seen
        done = wait_session(main_client, impostor["id"], {"completed", "failed"})
        assert (done["state"], done["error_code"]) == ("failed", "remote_error")


def _attached_through_east(lab, client, sshd, name: str) -> tuple[dict, TunnelClient]:
    host = ssh_host(client, sshd, name)
    _assign(client, host["id"], "east")
    opened = open_session(client, host["id"])
    tunnel = TunnelClient(lab["main"], opened["tunnel"], lab["admin"]).__enter__()
    tunnel.pump(15, until="sync")
    tunnel.settle(QUIET_S, 15)
    return opened, tunnel


def _fetched_later(client, session_id: str) -> dict:
    """The session once the main has fetched its pending recordings (retried with backoff)."""
    deadline = time.monotonic() + 60
    while (found := wait_session(client, session_id, {"failed"}))["recordings_pending"]:
        assert time.monotonic() < deadline, found
        time.sleep(0.5)
    return found


def test_a_peer_killed_mid_session_is_lost_at_once_and_its_recording_fetched_later(
    lab, main_client, sshd, tmp_path
):
    """The peer dies under a running session: the tunnel says `peer_lost` in words within
    10 s, the row ends `failed peer_lost` with its recordings pending (not an error), and
    once the peer is back the main fetches them by itself."""
    opened, tunnel = _attached_through_east(lab, main_client, sshd, "lost-web")
    try:
        tunnel.type(f"{COMMAND}\n")
        tunnel.settle(QUIET_S, 10)
        killed = time.monotonic()
        lab["peer"].kill()
        seen = tunnel.pump(15, until="error")
        noticed_s = time.monotonic() - killed
    finally:
        tunnel.__exit__(None, None, None)
    try:
        assert seen.errors, seen
        said = seen.errors[-1][0]
        assert "peer node 'east' was lost" in said and said.endswith("(peer_lost)"), said
        assert noticed_s < 10, noticed_s
        done = wait_session(main_client, opened["id"], {"completed", "failed"}, timeout=10)
        assert (done["state"], done["error_code"]) == ("failed", "peer_lost"), done
        assert (done["recordings"], done["recordings_pending"]) == ([], True), done
        pending = main_client.get(
            f"sessions/{opened['id']}/recording", params={"kind": "typescript"}
        )
        assert error_of(pending, 409)["code"] == "recording_pending"
        # The CLI says the same in words.
        env = cli_env(tmp_path / "cli")
        password_file = tmp_path / "pw"
        password_file.write_text(PASSWORD)
        log_in(env, lab["main"], "corp", "tadmin", password_file)
        shown = run_cli(env, "sessions", "show", opened["id"], "--json")
        assert json.loads(shown.stdout)["recordings_pending"] is True
        refused = run_cli(env, "sessions", "recording", opened["id"], check=False)
        assert refused.returncode == 1, refused
        assert "recordings are still on peer node 'east'" in refused.stderr, refused.stderr
    finally:
        lab["peer"].start()
    found = _fetched_later(main_client, opened["id"])
    assert "recording" in found["recordings"], found
    assert found["error"].startswith("peer node 'east' was lost"), found


def test_a_frozen_peer_is_lost_within_ten_seconds(lab, main_client, sshd):
    """A peer that stops answering without closing anything (frozen, or its network cut):
    guacd's keep-alive stops coming through, and the main gives up on it within 10 s."""
    opened, tunnel = _attached_through_east(lab, main_client, sshd, "frozen-web")
    pid = lab["peer"].proc.pid
    try:
        os.kill(pid, signal.SIGSTOP)
        frozen = time.monotonic()
        seen = tunnel.pump(20, until="error")
        noticed_s = time.monotonic() - frozen
    finally:
        os.kill(pid, signal.SIGCONT)
        tunnel.__exit__(None, None, None)
    assert seen.errors, seen
    assert "nothing came from the gateway for 10 s" in seen.errors[-1][0], seen.errors
    # Silence counts from guacd's last `nop`, at most 5 s before the freeze.
    assert noticed_s < 11, noticed_s
    done = wait_session(main_client, opened["id"], {"completed", "failed"}, timeout=10)
    assert (done["state"], done["error_code"]) == ("failed", "peer_lost"), done
    found = _fetched_later(main_client, opened["id"])
    assert "recording" in found["recordings"], found


def _monitor(lab, tenant: str, session_id: str, token: str) -> TunnelClient:
    return TunnelClient(lab["main"], f"/ztna/{tenant}/root/sessions/{session_id}/monitor", token)


def _drawn(seen) -> int:
    return sum(seen.opcodes[opcode] for opcode in ("img", "rect", "cfill", "blob"))


@pytest.mark.parametrize("route", ["here", "peer"])
def test_monitor_watches_a_session_live_read_only_and_is_audited(lab, main_client, sshd, route):
    """An auditor watches an administrator's session (on the main's own guacd, or through the
    peer's gateway: the peer's guacd joins it): the screen comes, the keys the auditor types
    never reach the shell, the owner's keys do; the watch is audited and listed, and ends
    with the session."""
    host = ssh_host(main_client, sshd, f"watched-{route}")
    if route == "peer":
        _assign(main_client, host["id"], "east")
    login = f"aud-{route}"
    add_user(main_client, login, "auditor")
    auditor = lab["main"].login("corp", "root", login, PASSWORD)
    opened = open_session(main_client, host["id"])
    with TunnelClient(lab["main"], opened["tunnel"], lab["admin"]) as owner:
        owner.pump(15, until="sync")
        owner.settle(QUIET_S, 15)
        with _monitor(lab, "corp", opened["id"], auditor) as watcher:
            watcher.pump(15, until="sync")
            details = expect(main_client.get(f"sessions/{opened['id']}"), 200)
            assert [(w["watcher"], w["ended_at"]) for w in details["watches"]] == [(login, None)]
            watcher.type("echo intruder-$((5*5))\n")
            watcher.pump(2)
            for _ in range(3):
                owner.type(f"{COMMAND}; exit\n")
                for _ in range(10):
                    owner.pump(0.5, until="disconnect")
                    watcher.pump(0.5)
                    if owner.seen.opcodes["disconnect"] or owner.seen.closed:
                        break
                if owner.seen.opcodes["disconnect"] or owner.seen.closed:
                    break
            # The session's end cuts its watchers.
            watcher.pump(10)
            assert watcher.seen.closed, watcher.seen
    assert _drawn(watcher.seen) > 0, watcher.seen
    # The watcher is told its screen stopped: guacd's `disconnect` to every user, or, when the
    # session's tunnel cut the watch first, in words.
    said = [error[0] for error in watcher.seen.errors]
    assert said == ["the session ended"] or (watcher.seen.opcodes["disconnect"] and not said)
    done = wait_session(main_client, opened["id"], {"completed", "failed"})
    assert done["state"] == "completed", done
    shown = typescript(main_client, opened["id"])
    assert MARKER in shown and "intruder" not in shown
    [watch] = done["watches"]
    assert watch["watcher"] == login and watch["ended_at"] is not None
    audited = run_sql(
        lab["main"],
        "SELECT actor, target FROM audit_events WHERE action = 'session.watch' AND actor = :a",
        a=login,
    )
    assert audited == [(login, f"watched-{route}")]
    if route == "peer":
        on_peer = run_sql(
            lab["peer"],
            "SELECT details FROM audit_events WHERE action = 'session.watch'",
        )
        assert any(opened["id"] in str(row) and login in str(row) for row in on_peer), on_peer


def test_monitor_is_refused_to_a_user_and_to_another_tenant(lab, main_client, sshd):
    host = ssh_host(main_client, sshd, "unwatched")
    add_user(main_client, "ulla")
    ulla = lab["main"].login("corp", "root", "ulla", PASSWORD)
    other_admin = create_tenant(lab["main"], "elsewhere")
    opened = open_session(main_client, host["id"])
    with TunnelClient(lab["main"], opened["tunnel"], lab["admin"]) as owner:
        owner.pump(15, until="sync")
        with _monitor(lab, "corp", opened["id"], ulla) as refused:
            user_saw = refused.pump(10, until="error")
        with _monitor(lab, "elsewhere", opened["id"], other_admin) as intruder:
            intruder_saw = intruder.pump(10, until="error")
        owner.pump(1)
    assert user_saw.errors and "only who may read Reports > Sessions" in user_saw.errors[0][0]
    assert _drawn(user_saw) == 0, user_saw
    assert intruder_saw.errors and "has no session" in intruder_saw.errors[0][0]
    done = wait_session(main_client, opened["id"], {"completed", "failed"})
    assert done["watches"] == []
    assert not run_sql(
        lab["main"],
        "SELECT id FROM audit_events WHERE action = 'session.watch' AND actor IN ('ulla')",
    )
