"""Every way an API token is refused, each with its own status, code and message."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.db import run_sql
from tests.support.identity import (
    PASSWORD,
    add_user,
    create_tenant,
    error_of,
    expect,
    issue_token,
)


@pytest.fixture(scope="module")
def world(inprocess_node_factory):
    """One node with tenants acme (sites root and dc2) and globex, each with a service user."""
    node = inprocess_node_factory("tokens")
    acme_admin = create_tenant(node, "acme")
    globex_admin = create_tenant(node, "globex")
    with node.client("acme", token=acme_admin) as acme:
        add_user(acme, "svc", "service")
        expect(acme.post("sites", json={"name": "dc2"}), 201)
    with node.client("globex", token=globex_admin) as globex:
        add_user(globex, "svc", "service")
    return node, acme_admin, globex_admin


def peer_info(node, token, tenant="acme", site="root"):
    with node.client(tenant, site, token=token) as client:
        return client.get("peer/info")


def test_valid_service_token_reaches_peer_info(world):
    node, admin, _ = world
    with node.client("acme", token=admin) as acme:
        _, jwt = issue_token(acme, "svc")
    info = expect(peer_info(node, jwt), 200)
    assert (info["node"], info["tenant"], info["site"]) == ("tokens", "acme", "root")


def test_missing_and_malformed_tokens(world):
    node, _, _ = world
    assert error_of(peer_info(node, None), 401)["code"] == "token_missing"
    error = error_of(peer_info(node, "not-a-jwt"), 401)
    assert error["code"] == "token_malformed"


def test_tampered_signature_is_refused(world):
    node, admin, _ = world
    with node.client("acme", token=admin) as acme:
        _, jwt = issue_token(acme, "svc")
    header, payload, signature = jwt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "someone-else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    error = error_of(peer_info(node, f"{header}.{forged_payload}.{signature}"), 401)
    assert error["code"] == "token_bad_signature"
    assert "signature is not valid for tenant 'acme'" in error["message"]


def test_token_signed_by_unknown_key_is_refused(world):
    node, _, _ = world
    forged = pyjwt.encode(
        {"sub": "x", "jti": "y", "typ": "api", "exp": datetime.now(UTC) + timedelta(days=1)},
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": "0" * 32},
    )
    error = error_of(peer_info(node, forged), 401)
    assert error["code"] == "token_bad_signature"
    assert "key this node does not know" in error["message"]


def test_expired_token_is_refused_with_its_expiry(world):
    node, admin, _ = world
    with node.client("acme", token=admin) as acme:
        token_id, jwt = issue_token(acme, "svc")
    # The stored expiry is authoritative; move it into the past, beyond the clock leeway.
    past = datetime.now(UTC) - timedelta(hours=2)
    run_sql(node, "UPDATE api_tokens SET expires_at = :at WHERE id = :id", at=past, id=token_id)
    error = error_of(peer_info(node, jwt), 401)
    assert error["code"] == "token_expired"
    assert "expired at" in error["message"]


def test_disabled_token_is_refused_until_enabled(world):
    node, admin, _ = world
    with node.client("acme", token=admin) as acme:
        token_id, jwt = issue_token(acme, "svc", enabled=False)
        error = error_of(peer_info(node, jwt), 401)
        assert error == {"code": "token_disabled", "message": "the API token is disabled"}
        expect(acme.patch(f"api-tokens/{token_id}", json={"enabled": True}), 200)
    expect(peer_info(node, jwt), 200)


def test_revoked_token_is_refused(world):
    node, admin, _ = world
    with node.client("acme", token=admin) as acme:
        token_id, jwt = issue_token(acme, "svc")
        expect(peer_info(node, jwt), 200)
        expect(acme.delete(f"api-tokens/{token_id}"), 204)
    error = error_of(peer_info(node, jwt), 401)
    assert error["code"] == "token_revoked"


def test_locked_owner_token_is_refused(world):
    node, admin, _ = world
    with node.client("acme", token=admin) as acme:
        add_user(acme, "svc-locked", "service")
        _, jwt = issue_token(acme, "svc-locked")
        expect(acme.patch("users/svc-locked", json={"locked": True}), 200)
        error = error_of(peer_info(node, jwt), 403)
        assert error["code"] == "token_owner_locked"
        assert "svc-locked" in error["message"]
        expect(acme.patch("users/svc-locked", json={"locked": False}), 200)
    expect(peer_info(node, jwt), 200)


def test_source_outside_filter_is_refused(world):
    node, admin, _ = world
    with node.client("acme", token=admin) as acme:
        _, outside = issue_token(acme, "svc", filter=["10.0.0.0/8", "192.168.0.0/16"])
        _, inside = issue_token(acme, "svc", filter=["127.0.0.0/8"])
    error = error_of(peer_info(node, outside), 403)
    assert error["code"] == "token_source_denied"
    assert "127.0.0.1" in error["message"] and "10.0.0.0/8" in error["message"]
    expect(peer_info(node, inside), 200)


def test_token_of_another_tenant_is_useless(world):
    node, _, globex_admin = world
    with node.client("globex", token=globex_admin) as globex:
        _, globex_jwt = issue_token(globex, "svc")
    expect(peer_info(node, globex_jwt, tenant="globex"), 200)
    error = error_of(peer_info(node, globex_jwt, tenant="acme"), 403)
    assert error["code"] == "token_wrong_tenant"
    assert "issued by tenant 'globex'" in error["message"]
    # A session of one tenant's administrator is just as useless on another tenant.
    with node.client("acme", token=globex_admin) as acme:
        assert error_of(acme.get("users"), 403)["code"] == "token_wrong_tenant"


def test_token_of_another_site_is_refused(world):
    node, admin, _ = world
    with node.client("acme", token=admin) as acme:
        _, jwt = issue_token(acme, "svc")
    error = error_of(peer_info(node, jwt, site="dc2"), 403)
    assert error["code"] == "token_wrong_site"
    assert "site 'root'" in error["message"] and "'dc2'" in error["message"]


def test_unlock_shows_the_jwt_until_locked(world):
    node, admin, _ = world
    with node.client("acme", token=admin) as acme:
        body = {"user": "svc", "expires_at": (datetime.now(UTC) + timedelta(days=5)).isoformat()}
        created = expect(acme.post("api-tokens", json=body), 201)
        assert created["locked"] is True and created["jwt"] is None
        jwt = expect(acme.post(f"api-tokens/{created['id']}/unlock"), 200)["jwt"]
        details = expect(acme.get(f"api-tokens/{created['id']}"), 200)
        assert details["jwt"] == jwt and details["locked"] is False
        expect(acme.post(f"api-tokens/{created['id']}/lock"), 204)
        details = expect(acme.get(f"api-tokens/{created['id']}"), 200)
        assert details["jwt"] is None and details["locked"] is True
        listed = expect(acme.get("api-tokens"), 200)
        assert all(token["jwt"] is None for token in listed)
    # The JWT is stored sealed: its text is nowhere in the database.
    rows = run_sql(node, "SELECT jwt_sealed FROM api_tokens WHERE id = :id", id=created["id"])
    assert jwt.encode() not in bytes(rows[0][0])


def test_refusals_are_audited(world):
    node, admin, _ = world
    peer_info(node, "not-a-jwt")
    with node.client("acme", token=admin) as acme:
        events = expect(acme.get("audit-events", params={"outcome": "denied", "limit": 500}), 200)
    codes = {event["details"].get("code") for event in events if event["outcome"] == "denied"}
    assert {"token_malformed", "token_revoked", "token_disabled"} <= codes


def test_service_user_may_log_in_but_only_use_peer_routes(world):
    node, _, _ = world
    token = node.login("acme", "root", "svc", PASSWORD)
    expect(peer_info(node, token), 200)
    with node.client("acme", token=token) as acme:
        assert error_of(acme.get("users"), 403)["code"] == "permission_denied"
