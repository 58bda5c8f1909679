"""The destination policy on real nodes: the node that would connect refuses a target on
loopback, link-local or its own listening port (the peer for grants, tickets and delegated jobs;
the main for its local jobs, local sessions and RDP pass-through), with `target_refused`, a
message naming the host and why, and a `target.refuse` audit row. With 127.0.0.0/8 allowed,
as in the lab, the node's own API and guacd ports are still refused, and nothing a Service token
can ask for reaches the peer's guacd. The main applies the same policy to its peers' own
addresses: a Peer Node's URL, gateway or HTTP proxy address on the main's own listeners is
refused when saved (422 `peer_address_refused`) and when connected to (`target_refused`)."""

from __future__ import annotations

import json
import re
import socket
import ssl
import uuid
from typing import Any

import pytest

from pamnode.lab.node_process import NodeProcess
from pamnode.lab.ports import free_port
from pamnode.lab.tunnel_client import TunnelClient
from pamnode.sessions.guacamole.protocol import Scanner, encode
from tests.support.assets import add_asset
from tests.support.db import run_sql
from tests.support.identity import create_tenant, error_of, expect
from tests.support.jobs import run_jobs
from tests.support.peers import add_peer, check_connection, establish_trust, prepare_peer_site
from tests.support.sessions import open_session, wait_session

PEER_TENANT = "dc-policy"
# The allow-list emptied: the product's default.
STRICT = {"PAMNODE_TARGET_ALLOW_CIDRS": ""}
KINDS = ["loopback", "link-local", "own-port"]


@pytest.fixture(scope="module")
def db_kind() -> str:
    return "sqlite"


def _peer(node_factory, name: str, env: dict[str, str]) -> dict[str, Any]:
    gateway, proxy = free_port(), free_port()
    node = node_factory(
        name,
        env={"PAMNODE_GATEWAY_PORT": str(gateway), "PAMNODE_HTTP_PROXY_PORT": str(proxy), **env},
    )
    jwt = prepare_peer_site(node, PEER_TENANT)
    return {"node": node, "jwt": jwt, "gateway_port": gateway, "proxy_port": proxy}


@pytest.fixture(scope="module")
def strict_peer(node_factory) -> dict[str, Any]:
    return _peer(node_factory, "strict-peer", STRICT)


@pytest.fixture(scope="module")
def lab_peer(node_factory) -> dict[str, Any]:
    return _peer(node_factory, "lab-peer", {})


@pytest.fixture(scope="module")
def strict_main(node_factory) -> tuple[NodeProcess, str]:
    main = node_factory("strict-main", env=STRICT)
    return main, create_tenant(main, "corp")


def _target(kind: str, node: NodeProcess) -> tuple[str, int, str]:
    """host, port, and what the refusal says of them."""
    if kind == "loopback":
        return "127.0.0.1", 22, "resolves to loopback 127.0.0.1, which this node's target policy"
    if kind == "link-local":
        return "169.254.169.254", 80, "resolves to link-local 169.254.169.254"
    return "127.0.0.1", node.port, f"this node's own listening port {node.port}"


def _refused(node: NodeProcess, error: dict[str, str], host: str, port: int, said: str) -> None:
    assert error["code"] == "target_refused", error
    assert error["message"].startswith(f"{host}:{port} "), error
    assert said in error["message"], error
    if "own listening port" not in said:
        assert "PAMNODE_TARGET_ALLOW_CIDRS" in error["message"]
    assert _audited(node, f"{host}:{port}"), f"no target.refuse audit row for {host}:{port}"


def _audited(node: NodeProcess, target: str) -> list[dict[str, Any]]:
    rows = run_sql(
        node,
        "SELECT outcome, details FROM audit_events WHERE action = 'target.refuse' "
        "AND target = :target",
        target=target,
    )
    found = []
    for outcome, details in rows:
        assert outcome == "denied"
        found.append(json.loads(details) if isinstance(details, str) else details)
    return found


def _vias(node: NodeProcess, target: str) -> set[str]:
    return {details["via"] for details in _audited(node, target)}


def _grant_body(host: str, port: int) -> dict[str, Any]:
    return {"session_id": str(uuid.uuid4()), "target": {"host": host, "port": port}}


def _ticket_body(host: str, port: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "target": {"host": host, "port": port, "protocol": "ssh"},
        "credential": {"username": "someone", "password": "Never-Sent-7"},
    }


def _job_body(host: str, port: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "task": "unix-status-check",
        "target": {"host": host, "port": port, "protocol": "ssh"},
        "credential": {"username": "someone", "password": "Never-Sent-7"},
        "timeout_s": 30,
    }


@pytest.mark.parametrize("kind", KINDS)
def test_the_peer_refuses_grants_tickets_and_jobs_to_guarded_targets(strict_peer, kind):
    peer = strict_peer["node"]
    host, port, said = _target(kind, peer)
    with peer.client(PEER_TENANT, token=strict_peer["jwt"]) as api:
        refused = error_of(api.post("peer/proxy-grants", json=_grant_body(host, port)), 403)
        _refused(peer, refused, host, port, said)

        ticket = _ticket_body(host, port)
        refused = error_of(api.post("peer/sessions", json=ticket), 403)
        _refused(peer, refused, host, port, said)
        assert run_sql(peer, "SELECT id FROM sessions WHERE id = :id", id=ticket["id"]) == []

        job = _job_body(host, port)
        answered = expect(api.post("peer/jobs", json=job), 202)
        assert (answered["state"], answered["error_code"]) == ("failed", "target_refused")
        assert said in answered["error"]
        # The end is in the feed the main follows, like any job's end.
        feed = expect(api.get("peer/jobs/feed", params={"after": "0:0", "wait": 0}), 200)
        assert any(j["id"] == job["id"] and j["state"] == "failed" for j in feed["jobs"])
    assert _vias(peer, f"{host}:{port}") == {"proxy grant", "session ticket", "delegated job"}
    assert "Never-Sent-7" not in peer.log_text()


@pytest.mark.parametrize("kind", KINDS)
def test_the_main_refuses_local_jobs_sessions_and_rdp_to_guarded_targets(strict_main, kind):
    main, admin = strict_main
    host, port, said = _target(kind, main)
    secrets = {"username": "someone", "password": "Never-Sent-7"}
    with main.client("corp", token=admin) as api:
        unix = add_asset(
            api, f"unix-{kind}", properties={"host": host, "port": port}, secrets=secrets
        )
        [job] = run_jobs(api, unix["id"])
        assert (job["state"], job["error_code"]) == ("failed", "target_refused"), job
        assert said in job["error"]

        opened = open_session(api, unix["id"])
        with TunnelClient(main, opened["tunnel"], admin) as client:
            client.pump(15, until="error")
        done = wait_session(api, opened["id"], {"completed", "failed"})
        assert (done["state"], done["error_code"]) == ("failed", "target_refused"), done
        assert said in done["error"]

        desk = add_asset(
            api,
            f"desk-{kind}",
            "windows-host",
            properties={"host": host, "session_port": port},
            secrets=secrets,
        )
        refused = error_of(api.post(f"assets/{desk['id']}/rdp-proxy"), 403)
        _refused(main, refused, host, port, said)
    assert _vias(main, f"{host}:{port}") == {"job", "session", "rdp pass-through"}


def _start_guacd(lab_peer, sshd) -> int:
    """guacd starts on first use: one ticket to the lab's sshd through the front; its port."""
    peer = lab_peer["node"]
    body = _ticket_body(sshd.address, sshd.port)
    body["credential"] = {"username": sshd.user, "password": sshd.password}
    with peer.client(PEER_TENANT, token=lab_peer["jwt"]) as api:
        ticket = expect(api.post("peer/sessions", json=body), 201)["ticket"]
    context = ssl.create_default_context(cafile=str(peer.cert_path))
    context.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", lab_peer["gateway_port"]), timeout=10)
    with context.wrap_socket(raw) as sock:
        sock.sendall(encode("ticket", ticket, "800", "600", "96", "").encode())
        scanner = Scanner()
        while not (found := scanner.take()):
            scanner.feed(sock.recv(65536).decode())
        assert found[0].opcode == "ready", found
    log = (peer.data_dir / "logs" / "guacd.log").read_text()
    return int(re.findall(r"Listening on host [^,]+, port (\d+)", log)[-1])


def _guacd_clients(peer: NodeProcess) -> int:
    return (peer.data_dir / "logs" / "guacd.log").read_text().count("Creating new client")


def _connect(lab_peer, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    peer = lab_peer["node"]
    context = ssl.create_default_context(cafile=str(peer.cert_path))
    context.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", lab_peer["proxy_port"]), timeout=10)
    with context.wrap_socket(raw) as sock:
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]


def test_own_listeners_stay_refused_with_loopback_allowed(lab_peer, sshd):
    peer = lab_peer["node"]
    guacd_port = _start_guacd(lab_peer, sshd)
    clients = _guacd_clients(peer)
    own = {
        "API": peer.port,
        "guacd": guacd_port,
        "gateway front": lab_peer["gateway_port"],
        "HTTP proxy": lab_peer["proxy_port"],
    }
    with peer.client(PEER_TENANT, token=lab_peer["jwt"]) as api:
        # Loopback itself is allowed here: a grant to the lab's sshd is given.
        expect(api.post("peer/proxy-grants", json=_grant_body(sshd.address, sshd.port)), 201)
        for name, port in own.items():
            for host in ("127.0.0.1", "127.0.0.2", "localhost"):
                response = api.post("peer/proxy-grants", json=_grant_body(host, port))
                refused = error_of(response, 403)
                assert refused["code"] == "target_refused", (name, host, refused)
                assert f"this node's own listening port {port}" in refused["message"]
            refused = error_of(api.post("peer/sessions", json=_ticket_body("127.0.0.1", port)), 403)
            assert refused["code"] == "target_refused", (name, refused)
            job = expect(api.post("peer/jobs", json=_job_body("127.0.0.1", port)), 202)
            assert job["error_code"] == "target_refused", (name, job)
        # A CONNECT that names guacd gets no further with a grant for somewhere else.
        grant = expect(
            api.post("peer/proxy-grants", json=_grant_body(sshd.address, sshd.port)), 201
        )["grant"]
    headers = {"Proxy-Authorization": f"Bearer {lab_peer['jwt']}", "Pamnode-Proxy-Grant": grant}
    status, error = _connect(lab_peer, f"127.0.0.1:{guacd_port}", headers)
    assert (status, error["code"]) == (403, "proxy_grant_mismatch")
    assert _guacd_clients(peer) == clients
    assert {"proxy grant", "session ticket", "delegated job"} <= _vias(
        peer, f"127.0.0.1:{guacd_port}"
    )


def test_a_peer_node_cannot_point_at_the_mains_own_listeners(node_factory, lab_peer):
    """A configuration manager could point a Peer Node at the main's own API, verify and pin
    the main's certificate, and have Test Connection hand the peer's token to it (or reach
    any listener of the main from 127.0.0.1). Loopback is allowed here, as in the lab."""
    gateway = free_port()
    main = node_factory("lab-main", env={"PAMNODE_GATEWAY_PORT": str(gateway)})
    admin = create_tenant(main, "corp")
    peer, jwt = lab_peer["node"], lab_peer["jwt"]
    own = f"127.0.0.1:{main.port}"
    own_url = f"https://{own}/ztna/{PEER_TENANT}/root"
    good_url = f"{peer.base_url}/ztna/{PEER_TENANT}/root"
    with main.client("corp", token=admin) as api:
        for field, changes, said in (
            ("url", {"url": own_url}, f"this node's own listening port {main.port}"),
            # A name that resolves to it is the same address.
            (
                "url",
                {"url": f"https://localhost:{main.port}/ztna/{PEER_TENANT}/root"},
                f"this node's own listening port {main.port}",
            ),
            (
                "gateway_address",
                {"url": good_url, "gateway": True, "gateway_address": f"127.0.0.1:{gateway}"},
                f"this node's own listening port {gateway}",
            ),
            (
                "url",
                {"url": f"https://169.254.169.254/ztna/{PEER_TENANT}/root"},
                "link-local 169.254.169.254",
            ),
        ):
            body = {"name": "self", "job_runner": True, "access_token": jwt, **changes}
            error = error_of(api.post("peer-nodes", json=body), 422)
            assert error["code"] == "peer_address_refused", error
            assert error["message"].startswith(f"{field}: ") and said in error["message"], error
        assert expect(api.get("peer-nodes"), 200) == []

        created = add_peer(api, "dc", peer, PEER_TENANT, jwt)
        establish_trust(api, created["id"])
        moved = {"url": own_url, "access_token": jwt}
        error = error_of(api.patch(f"peer-nodes/{created['id']}", json=moved), 422)
        assert error["code"] == "peer_address_refused", error
        kept = expect(api.get(f"peer-nodes/{created['id']}"), 200)
        assert kept["url"] == good_url and kept["trust"]["job-runner"] is not None
        assert check_connection(api, created["id"])["ok"] is True

        # An address saved before this check, or a name that resolves elsewhere since, is
        # refused where the main connects: nothing reaches its own API, no token, no pin.
        run_sql(
            main, "UPDATE peer_nodes SET url = :url WHERE id = :id", url=own_url, id=created["id"]
        )
        verify = {"component": "job-runner"}
        error = error_of(api.post(f"peer-nodes/{created['id']}/verify-trust", json=verify), 422)
        assert error["code"] == "target_refused" and own in error["message"], error
        report = check_connection(api, created["id"])
        assert (report["ok"], report["code"]) == (False, "target_refused"), report
    assert _vias(main, own) == {"peer-node"}
