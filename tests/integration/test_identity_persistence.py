"""What a node was told survives its restart: tenants, users, grants, tokens, audit."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.support.identity import PASSWORD, add_user, create_tenant, error_of, expect, issue_token

# Both backends: what survives a restart is what the database kept.
pytestmark = pytest.mark.databases("sqlite", "postgresql")


def test_data_and_tokens_survive_a_restart(node_factory):
    node = node_factory("persist")
    admin = create_tenant(node, "acme")
    with node.client("acme", token=admin) as acme:
        add_user(acme, "svc", "service")
        expect(acme.post("sites", json={"name": "dc2"}), 201)
        token_id, jwt = issue_token(acme, "svc", filter=["127.0.0.0/8"])
        revoked_id, revoked_jwt = issue_token(acme, "svc")
        expect(acme.delete(f"api-tokens/{revoked_id}"), 204)

    node.restart()

    # The old session is still valid: its row and the tenant's signing key both persisted.
    with node.client("acme", token=admin) as acme:
        assert {u["login"] for u in expect(acme.get("users"), 200)} == {"tadmin", "svc"}
        assert {s["name"] for s in expect(acme.get("sites"), 200)} == {"root", "dc2"}
        grants = {(g["principal"], g["role"]) for g in expect(acme.get("site-roles"), 200)}
        assert grants == {("tadmin", "administrator"), ("svc", "service")}
        token = expect(acme.get(f"api-tokens/{token_id}"), 200)
        assert token["filter"] == ["127.0.0.0/8"]
        assert expect(acme.post(f"api-tokens/{token_id}/unlock"), 200)["jwt"] == jwt
        actions = {e["action"] for e in expect(acme.get("audit-events"), 200)}
        assert {"user.create", "site-role.grant", "api-token.create", "api-token.revoke"} <= actions
    with node.client("acme", token=jwt) as svc:
        assert expect(svc.get("peer/info"), 200)["node"] == "persist"
    with node.client("acme", token=revoked_jwt) as svc:
        assert error_of(svc.get("peer/info"), 401)["code"] == "token_revoked"
    assert node.login("acme", "root", "svc", PASSWORD)


def test_init_refuses_a_second_run(node_factory):
    node = node_factory("init-twice")
    result = node.init_admin("second", "Another-Passw0rd!")
    assert result.returncode == 1
    assert "already has an administrator" in result.stderr


def test_serve_makes_the_first_administrator_once(node_factory):
    # node_factory's node got its administrator from `serve --admin-login` on its first start.
    node = node_factory("serve-admin")
    node.stop()
    node.start(admin=("second", "Another-Passw0rd!"))
    assert "has an administrator already: --admin-login second unused" in node.log_text()
    with node.client("base") as base:
        refused = base.post("auth/login", json={"login": "second", "password": "Another-Passw0rd!"})
        assert error_of(refused, 401)["code"] == "login_failed"
    assert node.login("base", "root", ADMIN_LOGIN, ADMIN_PASSWORD)
