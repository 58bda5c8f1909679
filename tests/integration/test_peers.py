"""Configuration > Peer Nodes between two real nodes: trust pinning and Test Connection."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest

from pamnode.lab.node_process import NodeProcess
from pamnode.lab.ports import free_port
from tests.support.db import run_sql
from tests.support.identity import PASSWORD, add_user, create_tenant, error_of, expect, issue_token
from tests.support.peers import (
    add_peer,
    cert_sha256,
    check_connection,
    establish_trust,
    prepare_peer_site,
)

# Both backends: the peers area's smoke module.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

PEER_TENANT = "proxm-27"


@pytest.fixture(scope="module")
def nodes(node_factory):
    main = node_factory("main")
    peer = node_factory("remote-peer")
    jwt = prepare_peer_site(peer, PEER_TENANT)
    main_admin = create_tenant(main, "corp")
    peer_admin = peer.login(PEER_TENANT, "root", "tadmin", PASSWORD)
    return main, peer, main_admin, peer_admin, jwt


@pytest.fixture
def main_client(nodes):
    main, _, admin, _, _ = nodes
    with main.client("corp", token=admin) as client:
        yield client


def test_the_startup_banner_says_where_the_node_is(nodes):
    _, peer, _, _, _ = nodes
    log = peer.log_text()
    origin = peer.base_url
    assert f"node 'remote-peer', listening on {origin}" in log
    assert f"console of base/root: {origin}/ztna/base/root/" in log
    # node_factory's nodes make their administrator on the first start (serve --admin-login).
    assert "administrator 'admin' created in tenant 'base'" in log
    assert "NO ADMINISTRATOR YET" not in log
    (database,) = [line for line in log.splitlines() if "database: " in line]
    assert "sqlite+aiosqlite:///" in database or "postgresql+asyncpg://" in database


def test_a_node_without_an_administrator_says_how_to_make_one(tmp_path):
    node = NodeProcess(tmp_path / "bare", "bare")
    node.start()
    try:
        log = node.log_text()
    finally:
        node.stop()
    assert "WARNING   NO ADMINISTRATOR YET" in log and "pamnode init --data" in log


def test_seed_walkthrough_verify_establish_and_test(nodes, main_client):
    main, peer, _, _, jwt = nodes
    created = add_peer(main_client, "12P-remotePeer", peer, PEER_TENANT, jwt)
    assert created["has_access_token"] is True and "access_token" not in created
    assert created["trust"] == {"job-runner": None, "gateway": None, "http-proxy": None}

    untrusted = check_connection(main_client, created["id"])
    assert (untrusted["ok"], untrusted["code"]) == (False, "trust_not_established")

    shown = expect(
        main_client.post(
            f"peer-nodes/{created['id']}/verify-trust", json={"component": "job-runner"}
        ),
        200,
    )
    assert shown["sha256"] == cert_sha256(peer) and shown["trusted"] is False
    # What the peer's administrator reads out from its startup banner is what Verify Trust shows.
    assert f"certificate SHA-256 (Verify Trust on a main shows this): {shown['sha256']}" in (
        peer.log_text()
    )
    assert "127.0.0.1" in shown["sans"] and "CN=remote-peer" in shown["subject"]

    wrong = {"component": "job-runner", "sha256": "AB" * 32}
    refused = main_client.post(f"peer-nodes/{created['id']}/establish-trust", json=wrong)
    assert error_of(refused, 409)["code"] == "certificate_changed"

    trusted = establish_trust(main_client, created["id"])
    assert trusted["trusted"] is True
    again = expect(main_client.post(f"peer-nodes/{created['id']}/verify-trust", json={}), 200)
    assert again["trusted"] is True and again["pinned_sha256"] == cert_sha256(peer)
    listed = expect(main_client.get(f"peer-nodes/{created['id']}"), 200)
    assert listed["trust"]["job-runner"]["sha256"] == cert_sha256(peer)

    report = check_connection(main_client, created["id"])
    assert report["ok"] is True, report
    assert (report["node"], report["tenant"], report["site"]) == (
        "remote-peer",
        PEER_TENANT,
        "root",
    )
    assert report["capabilities"]["job_runner"] is True
    assert 0 < report["latency_ms"] < 5000 and abs(report["clock_offset_ms"]) < 5000
    # The access token is write-only: not in any answer, not in the main's log or database.
    assert jwt not in main.log_text()
    assert all(jwt not in str(row) for row in run_sql(main, "SELECT * FROM peer_nodes"))


def _trusted_peer(main_client, nodes, name, token, **extra):
    _, peer, _, _, _ = nodes
    created = add_peer(main_client, name, peer, PEER_TENANT, token, **extra)
    establish_trust(main_client, created["id"])
    return created


def _moved_under(main, peer: dict, url: str) -> None:
    run_sql(main, "UPDATE peer_nodes SET url = :url WHERE id = :id", url=url, id=peer["id"])


def test_every_refusal_reason_is_distinct(nodes, main_client):
    _main, peer, _, peer_admin, good_jwt = nodes
    reasons: dict[str, str] = {}

    no_token = add_peer(main_client, "no-token", peer, PEER_TENANT, None)
    establish_trust(main_client, no_token["id"])
    reasons["no_access_token"] = check_connection(main_client, no_token["id"])["reason"]

    untrusted = add_peer(main_client, "untrusted", peer, PEER_TENANT, good_jwt)
    reasons["trust_not_established"] = check_connection(main_client, untrusted["id"])["reason"]

    # A trusted peer whose name stops resolving, or whose address stops answering (a PATCH of
    # the URL would clear its pin: the network changed under it, not its configuration).
    dns = _trusted_peer(main_client, nodes, "dns", good_jwt)
    _moved_under(_main, dns, "https://no-such-host.invalid:6443/ztna/proxm-27/root")
    reasons["dns_failed"] = check_connection(main_client, dns["id"])["reason"]

    closed = _trusted_peer(main_client, nodes, "closed", good_jwt)
    _moved_under(_main, closed, f"https://127.0.0.1:{free_port()}/ztna/{PEER_TENANT}/root")
    reasons["connect_failed"] = check_connection(main_client, closed["id"])["reason"]

    with peer.client(PEER_TENANT, token=peer_admin) as peer_client:
        _disabled_id, disabled_jwt = issue_token(peer_client, "svc-main", enabled=False)
        expired_id, expired_jwt = issue_token(peer_client, "svc-main")
        add_user(peer_client, "plain-user")
        _, plain_jwt = issue_token(peer_client, "plain-user")
        expect(peer_client.post("sites", json={"name": "dc2"}), 201)
    past = datetime.now(UTC) - timedelta(days=1)
    run_sql(peer, "UPDATE api_tokens SET expires_at = :at WHERE id = :id", at=past, id=expired_id)

    disabled = _trusted_peer(main_client, nodes, "disabled-token", disabled_jwt)
    reasons["token_refused"] = check_connection(main_client, disabled["id"])["reason"]
    assert "disabled" in reasons["token_refused"]

    expired = _trusted_peer(main_client, nodes, "expired-token", expired_jwt)
    expired_report = check_connection(main_client, expired["id"])
    assert expired_report["code"] == "token_refused" and "expired at" in expired_report["reason"]

    plain = _trusted_peer(main_client, nodes, "plain", plain_jwt)
    reasons["not_service_role"] = check_connection(main_client, plain["id"])["reason"]

    other_site = _trusted_peer(main_client, nodes, "other-site", good_jwt)
    other_url = f"{peer.base_url}/ztna/{PEER_TENANT}/dc2"
    change = {"url": other_url, "access_token": good_jwt}
    expect(main_client.patch(f"peer-nodes/{other_site['id']}", json=change), 200)
    establish_trust(main_client, other_site["id"])
    reasons["tenant_site_mismatch"] = check_connection(main_client, other_site["id"])["reason"]

    codes = {}
    for peer_id in (no_token, untrusted, dns, closed, disabled, plain, other_site):
        codes[check_connection(main_client, peer_id["id"])["code"]] = peer_id["name"]
    assert set(codes) == set(reasons), codes
    assert len(set(reasons.values())) == len(reasons), reasons
    assert "no-such-host.invalid" in reasons["dns_failed"]
    assert "Service role" in reasons["not_service_role"]
    assert "dc2" in reasons["tenant_site_mismatch"]

    # The base tenant is refused at configuration time, before any call could be made.
    base_url = f"{peer.base_url}/ztna/base/root"
    refused = main_client.post(
        "peer-nodes", json={"name": "base", "url": base_url, "access_token": good_jwt}
    )
    error = error_of(refused, 422)
    assert error["code"] == "invalid_peer_url" and "base tenant" in error["message"]


def test_replaced_certificate_is_refused_until_trust_is_re_established(nodes, main_client):
    _main, peer, _, _, jwt = nodes
    created = _trusted_peer(main_client, nodes, "rotating", jwt)
    old = cert_sha256(peer)
    assert check_connection(main_client, created["id"])["ok"] is True

    peer.stop()
    shutil.rmtree(peer.data_dir / "tls")
    peer.start()
    new = cert_sha256(peer)
    assert new != old

    report = check_connection(main_client, created["id"])
    assert report["ok"] is False and report["code"] == "tls_pin_mismatch"
    assert old in report["reason"] and new in report["reason"]
    shown = expect(main_client.post(f"peer-nodes/{created['id']}/verify-trust", json={}), 200)
    assert (shown["trusted"], shown["sha256"], shown["pinned_sha256"]) == (False, new, old)

    establish_trust(main_client, created["id"])
    assert check_connection(main_client, created["id"])["ok"] is True


def test_expiry_is_shown_ahead_of_time(nodes, main_client):
    _, peer, _, peer_admin, _ = nodes
    with peer.client(PEER_TENANT, token=peer_admin) as peer_client:
        soon = (datetime.now(UTC) + timedelta(days=10)).isoformat()
        _, short_jwt = issue_token(peer_client, "svc-main", expires_at=soon)
    created = _trusted_peer(main_client, nodes, "short-lived", short_jwt)
    listed = {p["name"]: p for p in expect(main_client.get("peer-nodes"), 200)}
    warnings = listed["short-lived"]["warnings"]
    assert any(w.startswith("the access token expires in 9 days") for w in warnings), warnings
    assert created["access_token_expires_at"] is not None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://peer:6443/ztna/acme/root", "must start with https:// (not 'http')"),
        ("peer.example/ztna/acme/root", "must start with https:// (and none is given)"),
        ("https://peer:6443/acme/root", "instead of /ztna/<tenant>/<site>"),
        ("https://peer:6443/ztna/acme", "instead of /ztna/<tenant>/<site>"),
        ("https://peer:6443/ztna/ACME/root", "not a valid tenant name"),
        ("https://pe er:6443/ztna/acme/root", "no valid host"),
        ("https://peer:99999/ztna/acme/root", "cannot be read"),
    ],
)
def test_malformed_urls_are_refused_precisely(main_client, url, fragment):
    error = error_of(main_client.post("peer-nodes", json={"name": "bad", "url": url}), 422)
    assert error["code"] == "invalid_peer_url"
    assert (
        fragment in error["message"]
        and "https://host:port/ztna/<tenant>/<site>" in error["message"]
    )


def test_other_bad_input(nodes, main_client):
    _, peer, _, _, jwt = nodes
    add_peer(main_client, "dup", peer, PEER_TENANT, jwt)
    body = {"name": "dup", "url": f"{peer.base_url}/ztna/{PEER_TENANT}/root"}
    assert error_of(main_client.post("peer-nodes", json=body), 409)["code"] == "peer_exists"
    body = {"name": "gw", "url": f"{peer.base_url}/ztna/{PEER_TENANT}/root", "gateway": True}
    assert error_of(main_client.post("peer-nodes", json=body), 422)["code"] == (
        "invalid_gateway_address"
    )
    body = {**body, "gateway_address": "gw.example:notaport"}
    assert "1 to 65535" in error_of(main_client.post("peer-nodes", json=body), 422)["message"]
    body = {"name": "tok", "url": f"{peer.base_url}/ztna/{PEER_TENANT}/root", "access_token": "x"}
    assert (
        error_of(main_client.post("peer-nodes", json=body), 422)["code"] == "invalid_access_token"
    )
    names = {p["name"] for p in expect(main_client.get("peer-nodes"), 200)}
    assert not names & {"gw", "tok"}


def test_roles_and_base_tenant(nodes):
    main, _, admin, _, _ = nodes
    with main.client("corp", token=admin) as corp:
        add_user(corp, "cfg", "configuration-manager")
        add_user(corp, "aud", "auditor")
    with main.client("corp", token=main.login("corp", "root", "cfg", PASSWORD)) as cfg:
        expect(cfg.get("peer-nodes"), 200)
    with main.client("corp", token=main.login("corp", "root", "aud", PASSWORD)) as aud:
        expect(aud.get("peer-nodes"), 200)
        body = {"name": "x", "url": "https://peer:6443/ztna/acme/root"}
        assert error_of(aud.post("peer-nodes", json=body), 403)["code"] == "permission_denied"
    from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD

    base_token = main.login("base", "root", ADMIN_LOGIN, ADMIN_PASSWORD)
    with main.client("base", token=base_token) as base:
        assert error_of(base.get("peer-nodes"), 403)["code"] == "base_tenant_refused"
