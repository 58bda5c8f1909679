"""Bad input gets a 4xx a person can act on, and leaves no partial rows behind."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.support.db import run_sql
from tests.support.identity import PASSWORD, add_user, create_tenant, error_of, expect, in_days


@pytest.fixture(scope="module")
def acme(inprocess_node_factory):
    node = inprocess_node_factory("input")
    admin = create_tenant(node, "acme")
    with node.client("acme", token=admin) as client:
        add_user(client, "svc", "service")
    return node, admin


@pytest.fixture
def client(acme):
    node, admin = acme
    with node.client("acme", token=admin) as c:
        yield c


def test_unknown_role(client):
    error = error_of(client.post("site-roles", json={"principal": "svc", "role": "king"}), 422)
    assert error["code"] == "unknown_role"
    assert "'king' is not a site role" in error["message"] and "auditor" in error["message"]


def test_duplicate_login(client):
    error = error_of(client.post("users", json={"login": "svc", "password": PASSWORD}), 409)
    assert error["code"] == "user_exists"
    assert "already has a user with login 'svc'" in error["message"]


@pytest.mark.parametrize(
    ("entry", "hint"),
    [("10.0.0.0/33", "CIDR"), ("not-a-network", "CIDR"), ("10.1.2.3/8", "did you mean 10.0.0.0/8")],
)
def test_malformed_cidr(acme, client, entry, hint):
    node, _ = acme
    before = run_sql(node, "SELECT count(*) FROM api_tokens")[0][0]
    body = {"user": "svc", "expires_at": in_days(1), "filter": ["127.0.0.0/8", entry]}
    error = error_of(client.post("api-tokens", json=body), 422)
    assert error["code"] == "invalid_filter"
    assert entry in error["message"] and hint in error["message"]
    assert run_sql(node, "SELECT count(*) FROM api_tokens")[0][0] == before


def test_expiry_in_the_past(client):
    error = error_of(
        client.post("api-tokens", json={"user": "svc", "expires_at": in_days(-1)}), 422
    )
    assert error["code"] == "expiry_in_past"
    naive = client.post("api-tokens", json={"user": "svc", "expires_at": "2030-01-01T00:00:00"})
    assert "expires_at" in error_of(naive, 422)["message"]


def test_oversized_fields_name_the_field(client):
    error = error_of(client.post("users", json={"login": "x" * 129, "password": PASSWORD}), 422)
    assert error["code"] == "invalid_input"
    assert error["message"].startswith("login:") and "128" in error["message"]
    error = error_of(
        client.post("users", json={"login": "ok", "password": PASSWORD, "mail": "m" * 300}), 422
    )
    assert error["message"].startswith("mail:")
    body = {"user": "svc", "expires_at": in_days(1), "description": "d" * 5000}
    assert error_of(client.post("api-tokens", json=body), 422)["message"].startswith("description:")


def test_unknown_fields_are_refused(client):
    body = {"login": "ok2", "password": PASSWORD, "is_admin": True}
    assert "is_admin" in error_of(client.post("users", json=body), 422)["message"]


def test_bad_names(client):
    assert error_of(client.post("sites", json={"name": "Bad Name"}), 422)["code"] == (
        "invalid_site_name"
    )
    assert error_of(client.post("users", json={"login": "a b", "password": PASSWORD}), 422)[
        "code"
    ] == ("invalid_login")
    assert error_of(client.post("users", json={"login": "shorty", "password": "x"}), 422)[
        "code"
    ] == ("weak_password")


def test_failed_tenant_creation_leaves_nothing(acme):
    node, _ = acme
    base_token = node.login("base", "root", ADMIN_LOGIN, ADMIN_PASSWORD)
    tables = ("tenants", "sites", "users", "site_role_grants")
    before = {t: run_sql(node, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    with node.client("base", token=base_token) as base:
        # The admin's password is too weak: by then the tenant and its root site were flushed.
        body = {"name": "halfway", "admin_login": "boss", "admin_password": "short"}
        assert error_of(base.post("tenants", json=body), 422)["code"] == "weak_password"
        body = {"name": "acme", "admin_login": "boss", "admin_password": PASSWORD}
        assert error_of(base.post("tenants", json=body), 409)["code"] == "tenant_exists"
        assert "halfway" not in {t["name"] for t in expect(base.get("tenants"), 200)}
    after = {t: run_sql(node, f"SELECT count(*) FROM {t}")[0][0] for t in tables}
    assert after == before


def test_unknown_tenant_and_site(acme):
    node, admin = acme
    with node.client("nowhere", token=admin) as c:
        assert error_of(c.get("users"), 403)["code"] == "token_wrong_tenant"
    # The caller proved it belongs to acme: it may learn that a site does not exist.
    with node.client("acme", "nosite", token=admin) as c:
        assert error_of(c.get("users"), 404)["code"] == "site_not_found"
