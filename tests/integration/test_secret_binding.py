"""Secrets go only where they were entered for (docs/security.md): a Peer Node's access token
to its URL, an asset's vault secrets to its destination. A configuration or asset manager who
re-points one at a server of its own gets a 422, and that server receives nothing."""

from __future__ import annotations

import pytest

from tests.support.db import run_sql
from tests.support.identity import create_tenant, error_of, expect
from tests.support.jobs import run_jobs, ssh_host
from tests.support.listener import Listener
from tests.support.peers import check_connection, establish_trust
from tests.support.rogue_peer import RoguePeer

TENANT = "corp"


@pytest.fixture(scope="module")
def db_kind() -> str:
    # The rule is a service's; the database only stores what it decides.
    return "sqlite"


@pytest.fixture(scope="module")
def lab(node_factory, tmp_path_factory):
    main = node_factory("main")
    admin = create_tenant(main, TENANT)
    with (
        RoguePeer(tmp_path_factory.mktemp("genuine"), "dc") as genuine,
        RoguePeer(tmp_path_factory.mktemp("rogue"), "dc") as rogue,
    ):
        yield main, admin, genuine, rogue


@pytest.fixture
def api(lab):
    main, admin, _, _ = lab
    with main.client(TENANT, token=admin) as client:
        yield client


def _peer(api, name: str, at: RoguePeer, **listeners: object) -> dict:
    body = {"name": name, "url": at.url, "access_token": at.access_token(), **listeners}
    created = expect(api.post("peer-nodes", json=body), 201)
    establish_trust(api, created["id"])
    return dict(created)


def test_a_new_peer_url_needs_the_token_again_and_the_old_one_never_goes_there(lab, api):
    _, _, genuine, rogue = lab
    peer = _peer(api, "east", genuine)
    assert check_connection(api, peer["id"])["ok"] is True
    [sent] = genuine.bearers

    refused = error_of(api.patch(f"peer-nodes/{peer['id']}", json={"url": rogue.url}), 422)
    assert refused == {
        "code": "access_token_required",
        "message": "the URL changed: enter the peer's access token again",
    }
    # Nothing changed: the URL and its pin stay, and whatever trust and Test Connection do
    # next goes to the genuine peer, not to the server the URL was meant to point at.
    kept = expect(api.get(f"peer-nodes/{peer['id']}"), 200)
    assert kept["url"] == genuine.url and kept["trust"]["job-runner"] is not None
    establish_trust(api, peer["id"])
    assert check_connection(api, peer["id"])["ok"] is True
    assert rogue.requests == {} and rogue.bearers == []

    # With a token given again the URL moves, and its pin goes: nothing is sent until the
    # new server's certificate is trusted, and then only the token entered for it.
    token = rogue.access_token()
    change = {"url": rogue.url, "access_token": token}
    moved = expect(api.patch(f"peer-nodes/{peer['id']}", json=change), 200)
    assert moved["url"] == rogue.url and moved["trust"]["job-runner"] is None
    assert check_connection(api, peer["id"])["code"] == "trust_not_established"
    assert rogue.bearers == []
    establish_trust(api, peer["id"])
    assert check_connection(api, peer["id"])["ok"] is True
    assert rogue.bearers == [f"Bearer {token}"] and sent != rogue.bearers[0]


def test_a_moved_listener_loses_its_pin_and_the_same_address_keeps_it(lab, api):
    _, _, genuine, rogue = lab
    at_genuine = f"127.0.0.1:{genuine.port}"
    listeners = {
        "gateway": True,
        "gateway_address": at_genuine,
        "http_proxy": True,
        "http_proxy_address": at_genuine,
    }
    peer = _peer(api, "west", genuine, **listeners)
    for component in ("gateway", "http-proxy"):
        establish_trust(api, peer["id"], component)
    same = {"url": genuine.url, **listeners}
    trust = expect(api.patch(f"peer-nodes/{peer['id']}", json=same), 200)["trust"]
    assert all(trust.values()), trust

    at_rogue = f"127.0.0.1:{rogue.port}"
    trust = expect(api.patch(f"peer-nodes/{peer['id']}", json={"gateway_address": at_rogue}), 200)[
        "trust"
    ]
    assert trust["gateway"] is None and trust["job-runner"] and trust["http-proxy"]
    change = {"http_proxy_address": at_rogue}
    trust = expect(api.patch(f"peer-nodes/{peer['id']}", json=change), 200)["trust"]
    assert trust["http-proxy"] is None and trust["job-runner"]


def test_a_new_asset_destination_needs_its_secrets_again(lab, api, sshd):
    main, _, _, _ = lab
    host = ssh_host(api, sshd, "web")
    [job] = run_jobs(api, host["id"])
    assert job["state"] == "succeeded", job
    pinned = "SELECT key FROM asset_host_keys WHERE asset_id = :id"
    assert run_sql(main, pinned, id=host["id"])

    # Another address of this machine, on sshd's port: what an attacker's server would be.
    rogue = Listener("127.0.0.2", sshd.port)
    try:
        for properties in (
            {"host": "127.0.0.2", "port": sshd.port},
            {"host": sshd.address, "port": sshd.port + 1},
            {"host": sshd.address, "protocol": "vnc"},
            {"host": sshd.address, "session_port": 2222},
        ):
            change = {"properties": properties, "secrets": {"username": "someone"}}
            refused = error_of(api.patch(f"assets/{host['id']}", json=change), 422)
            assert refused["code"] == "secrets_required", properties
            assert "enter its password again" in refused["message"]
        after = expect(api.get(f"assets/{host['id']}"), 200)
        assert after["properties"] == host["properties"]
        # The Status Check still goes where the password was entered for.
        [job] = run_jobs(api, host["id"])
        assert job["state"] == "succeeded", job
        assert rogue.connections == 0

        # Given again, the change is taken and the old host's key is dropped with it.
        change = {"properties": {"host": "127.0.0.2"}, "secrets": {"password": "for-the-rogue"}}
        moved = expect(api.patch(f"assets/{host['id']}", json=change), 200)
        assert moved["properties"]["host"] == "127.0.0.2"
        assert run_sql(main, pinned, id=host["id"]) == []
        run_jobs(api, host["id"])
        assert rogue.connections == 1
    finally:
        rogue.close()
    back = {"properties": {"host": sshd.address}, "secrets": {"password": sshd.password}}
    expect(api.patch(f"assets/{host['id']}", json=back), 200)
    [job] = run_jobs(api, host["id"])
    assert job["state"] == "succeeded", job
    assert run_sql(main, pinned, id=host["id"]) == [(sshd.host_key_line,)]
