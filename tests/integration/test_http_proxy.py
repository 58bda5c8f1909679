"""The peer's HTTP proxy: CONNECT over TLS for a Service token and a one-time grant for exactly
one host:port; every refusal before a byte reaches the target, every tunnel audited."""

from __future__ import annotations

import json
import socket
import ssl
import time

import pytest

from pamnode.lab.ports import free_port
from tests.support.db import run_sql
from tests.support.identity import create_tenant, error_of, expect
from tests.support.peers import add_peer, cert_sha256, establish_trust, prepare_peer_site

PEER_TENANT = "dc-north"
GRANT_TTL_S = 2


@pytest.fixture(scope="module")
def proxy(node_factory):
    port = free_port()
    env = {"PAMNODE_HTTP_PROXY_PORT": str(port), "PAMNODE_PROXY_GRANT_TTL_S": str(GRANT_TTL_S)}
    peer = node_factory("proxy-peer", env=env)
    jwt = prepare_peer_site(peer, PEER_TENANT)
    return peer, port, jwt


def grant(peer, jwt: str, host: str, port: int) -> str:
    with peer.client(PEER_TENANT, token=jwt) as api:
        body = {"session_id": "s-1", "target": {"host": host, "port": port}}
        return str(expect(api.post("peer/proxy-grants", json=body), 201)["grant"])


def connect(
    proxy_port: int, peer, target: str, headers: dict[str, str]
) -> tuple[int, dict, ssl.SSLSocket]:
    context = ssl.create_default_context(cafile=str(peer.cert_path))
    context.check_hostname = False
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", proxy_port), timeout=10))
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    status_line, _, rest = head.partition(b"\r\n")
    status = int(status_line.split()[1])
    body = rest.partition(b"\r\n\r\n")[2]
    if status != 200:
        while chunk := sock.recv(4096):
            body += chunk
        return status, json.loads(body)["error"], sock
    return status, {"first": body}, sock


def test_a_granted_connect_reaches_the_target_once(proxy, sshd):
    peer, port, jwt = proxy
    target = f"{sshd.address}:{sshd.port}"
    token = grant(peer, jwt, sshd.address, sshd.port)
    headers = {"Proxy-Authorization": f"Bearer {jwt}", "Pamnode-Proxy-Grant": token}
    status, seen, sock = connect(port, peer, target, headers)
    with sock:
        assert status == 200
        banner = seen["first"] or sock.recv(256)
        assert banner.startswith(b"SSH-2.0-")
    status, error, sock = connect(port, peer, target, headers)
    sock.close()
    assert (status, error["code"]) == (403, "ticket_used")
    time.sleep(0.5)
    rows = run_sql(peer, "SELECT outcome, details FROM audit_events WHERE action = 'proxy.tunnel'")
    ends = [json.loads(d) if isinstance(d, str) else d for _, d in rows]
    assert any(e.get("phase") == "end" and e["bytes_from_target"] > 0 for e in ends), ends


def test_refusals_name_what_is_missing(proxy, sshd):
    peer, port, jwt = proxy
    target = f"{sshd.address}:{sshd.port}"
    status, error, sock = connect(port, peer, target, {})
    sock.close()
    assert (status, error["code"]) == (407, "token_missing")

    status, error, sock = connect(port, peer, target, {"Proxy-Authorization": f"Bearer {jwt}"})
    sock.close()
    assert (status, error["code"]) == (403, "proxy_grant_missing")

    elsewhere = grant(peer, jwt, "127.0.0.1", 9)
    headers = {"Proxy-Authorization": f"Bearer {jwt}", "Pamnode-Proxy-Grant": elsewhere}
    status, error, sock = connect(port, peer, target, headers)
    sock.close()
    assert (status, error["code"]) == (403, "proxy_grant_mismatch")
    assert "127.0.0.1:9" in error["message"]

    stale = grant(peer, jwt, sshd.address, sshd.port)
    time.sleep(GRANT_TTL_S + 0.5)
    headers = {"Proxy-Authorization": f"Bearer {jwt}", "Pamnode-Proxy-Grant": stale}
    status, error, sock = connect(port, peer, target, headers)
    sock.close()
    assert (status, error["code"]) == (403, "ticket_expired")

    fresh = grant(peer, jwt, sshd.address, sshd.port)
    headers = {"Proxy-Authorization": "Bearer not-a-token", "Pamnode-Proxy-Grant": fresh}
    status, error, sock = connect(port, peer, target, headers)
    sock.close()
    assert status == 407


def test_a_grant_needs_the_service_role_and_a_running_proxy(proxy, node_factory):
    peer, _, jwt = proxy
    with peer.client(PEER_TENANT, token=jwt) as api:
        info = expect(api.get("peer/info"), 200)
    assert info["capabilities"]["http_proxy"] is True
    plain = node_factory("no-proxy-peer")
    other_jwt = prepare_peer_site(plain, PEER_TENANT)
    with plain.client(PEER_TENANT, token=other_jwt) as api:
        body = {"session_id": "s-2", "target": {"host": "127.0.0.1", "port": 22}}
        refused = error_of(api.post("peer/proxy-grants", json=body), 503)
    assert refused["code"] == "http_proxy_not_running"


def test_a_main_configures_and_pins_the_peers_http_proxy(proxy, node_factory):
    peer, port, jwt = proxy
    main = node_factory("proxy-main")
    admin = create_tenant(main, "corp")
    with main.client("corp", token=admin) as client:
        bad = client.post(
            "peer-nodes",
            json={
                "name": "north",
                "url": f"{peer.base_url}/ztna/{PEER_TENANT}/root",
                "access_token": jwt,
                "http_proxy": True,
                "http_proxy_address": "north-proxy",
            },
        )
        refused = error_of(bad, 422)
        assert refused["code"] == "invalid_http_proxy_address"
        assert "e.g. 12port.contoso.com:8800" in refused["message"]
        created = add_peer(
            client,
            "north",
            peer,
            PEER_TENANT,
            jwt,
            http_proxy=True,
            http_proxy_address=f"127.0.0.1:{port}",
        )
        assert (created["http_proxy"], created["trust"]["http-proxy"]) == (True, None)
        pinned = establish_trust(client, created["id"], "http-proxy")
        assert pinned["sha256"] == cert_sha256(peer)
        establish_trust(client, created["id"])
        report = expect(client.post(f"peer-nodes/{created['id']}/test-connection"), 200)
        assert report["ok"] and report["capabilities"]["http_proxy"] is True, report
        # The proxy itself was reached at its address and answered as one.
        assert {c["component"]: c["ok"] for c in report["components"]} == {
            "job-runner": True,
            "http-proxy": True,
        }
        shown = expect(client.get(f"peer-nodes/{created['id']}"), 200)
        assert shown["trust"]["http-proxy"]["sha256"] == cert_sha256(peer)
