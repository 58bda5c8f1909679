"""Every site role, and a child site's administrator and directory manager, against every
action that could raise someone's rights: who may, who may not (pamnode/identity/authority.py).

The findings this closes: an auditor read the administrator's unlocked JWT; a directory
manager of a child site set the tenant administrator's password; a permission manager granted
itself administrator; an API-token manager issued a token for the tenant administrator.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.support.identity import PASSWORD, add_user, create_tenant, expect, in_days

ROOT_ROLES = (
    "administrator",
    "auditor",
    "service",
    "site-manager",
    "configuration-manager",
    "directory-manager",
    "asset-manager",
    "permission-manager",
    "api-token-manager",
)
# Actors of the child site `east`, acting through east's URL.
EAST_ROLES = ("administrator", "directory-manager")
ACTORS = [("root", role) for role in ROOT_ROLES] + [("east", role) for role in EAST_ROLES]

# Who may do each action; everyone else is refused (403, or 404 for what another site holds).
ALLOWED: dict[str, set[tuple[str, str]]] = {
    "read the tenant administrator's unlocked JWT": {("root", "administrator")},
    "unlock the tenant administrator's token": {("root", "administrator")},
    "issue a token for the tenant administrator": {("root", "administrator")},
    "issue a token for the Service user": {("root", "administrator")},
    "issue a token for a user without roles": {
        ("root", "administrator"),
        ("root", "api-token-manager"),
        ("east", "administrator"),
    },
    "grant itself administrator": {("root", "administrator"), ("east", "administrator")},
    "grant auditor to a user without roles": {
        ("root", "administrator"),
        ("east", "administrator"),
    },
    "grant permission-manager to a user without roles": {
        ("root", "administrator"),
        ("root", "permission-manager"),
        ("east", "administrator"),
    },
    "set the tenant administrator's password": {("root", "administrator")},
    "edit a user without roles": {("root", "administrator"), ("root", "directory-manager")},
    "create a user": {("root", "administrator"), ("root", "directory-manager")},
}

Action = Callable[[httpx.Client, dict], httpx.Response]


def _login(actor: tuple[str, str]) -> str:
    site, role = actor
    return f"{site}-{role}"


ACTIONS: dict[str, Action] = {
    "read the tenant administrator's unlocked JWT": lambda c, w: c.get(
        f"api-tokens/{w['admin_token']}"
    ),
    "unlock the tenant administrator's token": lambda c, w: c.post(
        f"api-tokens/{w['admin_token']}/unlock"
    ),
    "issue a token for the tenant administrator": lambda c, w: c.post(
        "api-tokens", json={"user": "tadmin", "expires_at": in_days(1)}
    ),
    "issue a token for the Service user": lambda c, w: c.post(
        "api-tokens", json={"user": "root-service", "expires_at": in_days(1)}
    ),
    "issue a token for a user without roles": lambda c, w: c.post(
        "api-tokens", json={"user": "plain", "expires_at": in_days(1)}
    ),
    "grant itself administrator": lambda c, w: c.post(
        "site-roles", json={"principal": w["me"], "role": "administrator"}
    ),
    # The grantee gathers what is granted here; `plain` keeps no role, whoever acts first.
    "grant auditor to a user without roles": lambda c, w: c.post(
        "site-roles", json={"principal": "grantee", "role": "auditor"}
    ),
    "grant permission-manager to a user without roles": lambda c, w: c.post(
        "site-roles", json={"principal": "grantee", "role": "permission-manager"}
    ),
    "set the tenant administrator's password": lambda c, w: c.patch(
        "users/tadmin", json={"password": PASSWORD}
    ),
    "edit a user without roles": lambda c, w: c.patch("users/plain", json={"first_name": "P"}),
    "create a user": lambda c, w: c.post(
        "users", json={"login": f"made-by-{w['me']}", "password": PASSWORD}
    ),
}


@pytest.fixture(scope="module")
def world(inprocess_node_factory):
    node = inprocess_node_factory("authz")
    admin = create_tenant(node, "acme")
    with node.client("acme", token=admin) as root:
        expect(root.post("sites", json={"name": "east"}), 201)
        add_user(root, "plain")
        add_user(root, "grantee")
        for site, role in ACTORS:
            add_user(root, _login((site, role)), *([role] if site == "root" else []))
        body = {"user": "tadmin", "expires_at": in_days(5), "description": "the admin's own"}
        admin_token = expect(root.post("api-tokens", json=body), 201)["id"]
        admin_jwt = expect(root.post(f"api-tokens/{admin_token}/unlock"), 200)["jwt"]
    with node.client("acme", "east", token=node.login("acme", "east", "tadmin", PASSWORD)) as east:
        for role in EAST_ROLES:
            grant = {"principal": _login(("east", role)), "role": role}
            expect(east.post("site-roles", json=grant), 201)
    return {"node": node, "admin_token": admin_token, "admin_jwt": admin_jwt}


def _allowed(action: str, response: httpx.Response) -> bool:
    if action == "read the tenant administrator's unlocked JWT" and response.status_code == 200:
        return response.json()["jwt"] is not None
    # 409 means the request passed every authorization check and met existing data.
    if response.status_code in (200, 201, 204, 409):
        return True
    assert response.status_code in (403, 404), (action, response.status_code, response.text)
    return False


@pytest.mark.parametrize("actor", ACTORS, ids=_login)
def test_authorization_matrix(world, actor):
    node = world["node"]
    site = actor[0]
    token = node.login("acme", site, _login(actor), PASSWORD)
    outcome = {}
    with node.client("acme", site, token=token) as client:
        for action, call in ACTIONS.items():
            response = call(client, {**world, "me": _login(actor)})
            outcome[action] = _allowed(action, response)
            if not outcome[action] and response.status_code == 403:
                assert response.json()["error"]["code"] in (
                    "permission_denied",
                    "escalation_refused",
                )
    expected = {action: actor in who for action, who in ALLOWED.items()}
    assert outcome == expected


def test_an_escalation_refusal_says_why(world):
    node = world["node"]
    token = node.login("acme", "root", "root-permission-manager", PASSWORD)
    with node.client("acme", token=token) as client:
        response = client.post(
            "site-roles", json={"principal": "root-permission-manager", "role": "administrator"}
        )
    problem = response.json()["error"]
    assert response.status_code == 403 and problem["code"] == "escalation_refused"
    assert "administrator role" in problem["message"]
    assert "rights they do not hold" in problem["message"]


def test_the_tenant_administrator_is_still_in_charge(world):
    # Nothing in the matrix changed who the tenant administrator is or how it logs in.
    node = world["node"]
    token = node.login("acme", "root", "tadmin", PASSWORD)
    with node.client("acme", token=token) as client:
        me = expect(client.get("auth/me"), 200)
        assert "administrator" in me["roles"]
        details = expect(client.get(f"api-tokens/{world['admin_token']}"), 200)
    assert details["jwt"] == world["admin_jwt"]
