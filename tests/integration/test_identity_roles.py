"""Site roles are enforced on every route; locked users are shut out at once."""

from __future__ import annotations

import pytest

from tests.support.identity import PASSWORD, add_user, create_tenant, error_of, expect, in_days


@pytest.fixture(scope="module")
def acme(inprocess_node_factory):
    node = inprocess_node_factory("roles")
    admin = create_tenant(node, "acme")
    with node.client("acme", token=admin) as client:
        add_user(client, "svc", "service")
        add_user(client, "eve", "auditor")
        add_user(client, "dora", "directory-manager")
        add_user(client, "tom", "api-token-manager")
        add_user(client, "nobody")
    return node, admin


def session(node, login):
    return node.client("acme", token=node.login("acme", "root", login, PASSWORD))


def test_service_user_cannot_create_users_or_read_anything(acme):
    node, _ = acme
    with session(node, "svc") as svc:
        error = error_of(svc.post("users", json={"login": "x1", "password": PASSWORD}), 403)
        assert error["code"] == "permission_denied"
        assert "users.write" in error["message"] and "directory-manager" in error["message"]
        for path in ("users", "site-roles", "api-tokens", "audit-events", "sites"):
            assert svc.get(path).status_code == 403, path


def test_auditor_reads_but_never_writes(acme):
    node, _ = acme
    with session(node, "eve") as eve:
        for path in ("users", "site-roles", "api-tokens", "audit-events", "sites"):
            expect(eve.get(path), 200)
        writes = [
            eve.post("users", json={"login": "x2", "password": PASSWORD}),
            eve.patch("users/nobody", json={"first_name": "N"}),
            eve.delete("users/nobody"),
            eve.post("site-roles", json={"principal": "nobody", "role": "auditor"}),
            eve.post("api-tokens", json={"user": "svc", "expires_at": in_days(1)}),
            eve.post("sites", json={"name": "dc9"}),
        ]
        assert [w.status_code for w in writes] == [403] * len(writes)
    with node.client("acme", token=acme[1]) as admin:
        assert "x2" not in {u["login"] for u in expect(admin.get("users"), 200)}


def test_directory_manager_manages_users_but_not_roles(acme):
    node, _ = acme
    with session(node, "dora") as dora:
        expect(dora.post("users", json={"login": "newbie", "password": PASSWORD}), 201)
        grant = dora.post("site-roles", json={"principal": "newbie", "role": "administrator"})
        assert error_of(grant, 403)["code"] == "permission_denied"


def test_api_token_manager_issues_tokens_but_cannot_touch_users(acme):
    node, _ = acme
    with session(node, "tom") as tom:
        expect(tom.post("api-tokens", json={"user": "nobody", "expires_at": in_days(3)}), 201)
        assert tom.patch("users/svc", json={"locked": True}).status_code == 403
        # The Service role's rights are not tom's: a Service token is an administrator's to give.
        refused = tom.post("api-tokens", json={"user": "svc", "expires_at": in_days(3)})
        assert error_of(refused, 403)["code"] == "escalation_refused"


def test_user_without_roles_is_refused_everywhere(acme):
    node, _ = acme
    with session(node, "nobody") as nobody:
        me = expect(nobody.get("auth/me"), 200)
        assert me["roles"] == []
        assert error_of(nobody.get("users"), 403)["code"] == "permission_denied"


def test_only_base_administrators_manage_tenants(acme):
    node, admin = acme
    with node.client("acme", token=admin) as client:
        body = {"name": "rogue", "admin_login": "r", "admin_password": PASSWORD}
        assert error_of(client.post("tenants", json=body), 403)["code"] == "not_base_tenant"


def test_locked_user_cannot_log_in_and_loses_its_session(acme):
    node, admin = acme
    with node.client("acme", token=admin) as client:
        add_user(client, "lucy", "auditor")
        lucy = session(node, "lucy")
        expect(lucy.get("users"), 200)
        expect(client.patch("users/lucy", json={"locked": True}), 200)
        assert error_of(lucy.get("users"), 403)["code"] == "user_locked"
        with node.client("acme") as anonymous:
            refused = anonymous.post("auth/login", json={"login": "lucy", "password": PASSWORD})
        assert error_of(refused, 403) == {"code": "user_locked", "message": "user 'lucy' is locked"}
        lucy.close()
        events = expect(client.get("audit-events", params={"action": "auth.login"}), 200)
    assert any(e["actor"] == "lucy" and e["outcome"] == "denied" for e in events)


def test_wrong_password_is_refused_without_saying_which_part(acme):
    node, _ = acme
    with node.client("acme") as anonymous:
        wrong = anonymous.post("auth/login", json={"login": "eve", "password": "nope-nope"})
        unknown = anonymous.post("auth/login", json={"login": "ghost", "password": "nope-nope"})
    assert error_of(wrong, 401) == error_of(unknown, 401)
    assert error_of(wrong, 401)["code"] == "login_failed"


def test_logout_ends_the_session(acme):
    node, _ = acme
    with session(node, "eve") as eve:
        expect(eve.post("auth/logout"), 204)
        assert error_of(eve.get("users"), 401)["code"] == "session_ended"


def test_base_tenant_is_not_a_peer_site(inprocess_node_factory, acme):
    node, _ = acme
    from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD

    base = node.client("base", token=node.login("base", "root", ADMIN_LOGIN, ADMIN_PASSWORD))
    with base:
        add_user(base, "base-svc", "service")
        svc_token = node.login("base", "root", "base-svc", PASSWORD)
        with node.client("base", token=svc_token) as svc:
            error = error_of(svc.get("peer/info"), 403)
        assert error["code"] == "base_tenant_refused"
        assert "only manages tenants" in error["message"]
        assert error_of(base.delete("tenants/base"), 422)["code"] == "base_tenant_refused"
