"""Requests at the edges of the API get a 4xx that says why, never a 500 or a stall.

Each case was a finding of the hardening review (or of the fuzz run in test_fuzz_api.py).
"""

from __future__ import annotations

import json
import socket
import time
import uuid

import pytest

from pamnode.lab.served_node import tls_context
from tests.support.identity import create_tenant, error_of, expect
from tests.support.peers import prepare_peer_site

MAX_BODY = 1024 * 1024


HEADER_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def world(inprocess_node_factory):
    node = inprocess_node_factory(
        "edges", env={"PAMNODE_REQUEST_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)}
    )
    admin = create_tenant(node, "corp")
    return node, admin


def test_a_large_body_is_refused_before_authentication(world):
    node, _ = world
    body = b"x" * (50 * 1024 * 1024)
    with node.client("corp") as anonymous:
        started = time.monotonic()
        response = anonymous.post("users", content=body, headers={"content-type": "text/plain"})
    assert error_of(response, 413)["code"] == "body_too_large"
    assert f"larger than {MAX_BODY} bytes" in response.json()["error"]["message"]
    assert time.monotonic() - started < 10


def test_a_large_streamed_body_is_cut_off(world):
    node, admin = world

    def chunks():
        for _ in range(64):
            yield b"y" * (64 * 1024)

    with node.client("corp", token=admin) as client:
        response = client.post("scripts", content=chunks(), headers={"content-type": "text/plain"})
    assert error_of(response, 413)["code"] == "body_too_large"


def test_a_body_just_under_the_limit_is_read(world):
    node, admin = world
    script = {"name": "big", "type": "shell", "body": "#" * 900_000}
    with node.client("corp", token=admin) as client:
        expect(client.post("scripts", json=script), 201)


@pytest.mark.parametrize("route", ["jobs", "audit-events"])
def test_paging_beyond_any_page_is_refused(world, route):
    node, admin = world
    with node.client("corp", token=admin) as client:
        problem = error_of(client.get(route, params={"offset": "1e30"}), 422)
        assert problem["code"] == "invalid_input" and "offset" in problem["message"]
        problem = error_of(client.get(route, params={"offset": 10**12}), 422)
        assert "less than or equal to 10000000" in problem["message"]


def test_null_in_a_patch_is_refused_and_changes_nothing(world):
    node, admin = world
    with node.client("corp", token=admin) as client:
        peer = {"name": "nullable", "url": "https://10.0.0.9:6443/ztna/remote/root"}
        created = expect(client.post("peer-nodes", json=peer), 201)
        response = client.patch(f"peer-nodes/{created['id']}", json={"url": None, "name": "x"})
        problem = error_of(response, 422)
        assert "url cannot be null" in problem["message"]
        assert expect(client.get(f"peer-nodes/{created['id']}"), 200)["name"] == "nullable"
        problem = error_of(client.patch("users/tadmin", json={"locked": None}), 422)
        assert "locked cannot be null" in problem["message"]


def test_nul_characters_are_refused(world):
    node, admin = world
    with node.client("corp", token=admin) as client:
        body = {"user": "ta\u0000dmin", "expires_at": "2030-01-01T00:00:00Z"}
        problem = error_of(client.post("api-tokens", json=body), 422)
        assert "NUL character" in problem["message"]
        problem = error_of(client.get("users/ta%00dmin"), 422)
        assert "NUL character" in problem["message"]


def test_empty_script_name_is_refused(world):
    node, admin = world
    with node.client("corp", token=admin) as client:
        host = {"name": "e-1", "type": "unix-host", "properties": {"host": "10.0.0.1"}}
        asset = expect(client.post("assets", json=host), 201)
        body = {"task": "script", "script": ""}
        problem = error_of(client.post(f"assets/{asset['id']}/execute", json=body), 422)
        assert "script" in problem["message"]
        assert expect(client.get("jobs", params={"asset_id": asset["id"]}), 200)["total"] == 0


def test_the_vault_answers_with_a_peer_that_has_no_access_token(world):
    node, admin = world
    with node.client("corp", token=admin) as client:
        peer = {"name": "tokenless", "url": "https://10.0.0.8:6443/ztna/remote/root"}
        expect(client.post("peer-nodes", json=peer), 201)
        before = expect(client.get("vault"), 200)
        expect(client.post("vault/verify"), 200)
        rotated = expect(client.post("vault/rotate"), 200)
        after = expect(client.get("vault"), 200)
    assert rotated["version"] > max(before["key_versions"])
    assert after["key_versions"] == [rotated["version"]]


def test_an_oversized_request_is_answered_before_its_body_is_sent(world):
    # Only headers go out, announcing 60 MB: the node answers 413 without waiting for a byte.
    node, _ = world
    head = (
        f"POST /ztna/corp/root/api/auth/login HTTP/1.1\r\nHost: {node.address}\r\n"
        "Content-Type: application/json\r\nContent-Length: 62914560\r\n\r\n"
    )
    context = tls_context(node.cert_path)
    raw = socket.create_connection((node.address, node.port), timeout=10)
    with context.wrap_socket(raw, server_hostname=node.address) as tls:
        tls.sendall(head.encode())
        answer = tls.makefile("rb")
        status = answer.readline().decode()
        headers = dict(
            line.decode().lower().split(":", 1) for line in iter(answer.readline, b"\r\n")
        )
        length = int(headers["content-length"])
        body = json.loads(answer.read(length))
    assert status.startswith("HTTP/1.1 413"), status
    assert body["error"]["code"] == "body_too_large"


def _tls(node):
    raw = socket.create_connection((node.address, node.port), timeout=30)
    return tls_context(node.cert_path).wrap_socket(raw, server_hostname=node.address)


def test_headers_that_never_end_are_cut_off(world):
    """A client that sends half a request and waits holds nothing for long: the node closes
    the connection once request_header_timeout_s has passed (not at its idle keep-alive)."""
    node, _ = world
    with _tls(node) as tls:
        tls.sendall(f"GET /healthz HTTP/1.1\r\nHost: {node.address}\r\nX-Slow: ".encode())
        started = time.monotonic()
        assert tls.recv(1024) == b""
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 10


def test_a_connection_that_sends_nothing_is_cut_off(world):
    node, _ = world
    with _tls(node) as tls:
        assert tls.recv(1024) == b""


def test_https_answers_carry_hsts(world):
    node, _ = world
    with node.client("corp") as anonymous:
        for response in (anonymous.get(f"{node.base_url}/healthz"), anonymous.get("users")):
            assert response.headers["strict-transport-security"] == "max-age=31536000"


def test_a_console_post_from_the_same_host_in_clear_is_refused(world):
    node, _ = world
    here = f"{node.address}:{node.port}"
    url = f"{node.base_url}/ztna/corp/root/assets"
    with node.client("corp") as anonymous:
        clear = anonymous.post(url, headers={"Origin": f"http://{here}"}, data={"name": "x"})
        same = anonymous.post(url, headers={"Origin": f"https://{here}"}, data={"name": "x"})
    refusal = "may not change this site"
    assert clear.status_code == 403 and refusal in clear.text
    # The same request from the console's own origin passes this check (to be asked to log in).
    assert same.status_code != 403 and refusal not in same.text


# U+0378 is unassigned in Unicode: SASLprep, which the SSH layer applies to user names, refuses it.
UNSENDABLE = "op\u0378"


def test_hosts_and_user_names_ssh_cannot_take_are_refused_where_they_enter(world):
    node, admin = world
    with node.client("corp", token=admin) as client:
        host = {"name": "odd", "type": "unix-host", "properties": {"host": "10.0.0.1"}}
        refused = client.post("assets", json={**host, "secrets": {"username": UNSENDABLE}})
        assert error_of(refused, 422)["code"] == "invalid_username"
        for bad in ("", " ", "h\u00f6st.example", "10.0.0.1 "):
            refused = client.post("assets", json={**host, "properties": {"host": bad}})
            assert error_of(refused, 422)["code"] == "invalid_host", bad
        assert all(asset["name"] != "odd" for asset in expect(client.get("assets"), 200))

    jwt = prepare_peer_site(node, "dc-edge")
    target = {"host": "10.0.0.1", "port": 22, "protocol": "ssh"}
    credential = {"username": "ops", "password": "secret"}
    with node.client("dc-edge", token=jwt) as peer_api:
        for host, username in (("", "ops"), (" ", "ops"), ("10.0.0.1", UNSENDABLE)):
            job = {
                "id": str(uuid.uuid4()),
                "task": "unix-status-check",
                "target": {**target, "host": host},
                "credential": {**credential, "username": username},
                "timeout_s": 60,
            }
            refused = peer_api.post("peer/jobs", json=job)
            assert error_of(refused, 422)["code"] == "invalid_input", (host, username)
            session = {
                "id": str(uuid.uuid4()),
                "target": job["target"],
                "credential": job["credential"],
            }
            refused = peer_api.post("peer/sessions", json=session)
            assert error_of(refused, 422)["code"] == "invalid_input", (host, username)
        grant = {"session_id": str(uuid.uuid4()), "target": {"host": " ", "port": 22}}
        assert (
            error_of(peer_api.post("peer/proxy-grants", json=grant), 422)["code"] == "invalid_input"
        )
