"""Identity in-process: login, refused tokens, bad input, and the escalation rule."""

from __future__ import annotations

import pytest

from tests.support.identity import PASSWORD


@pytest.fixture(scope="module")
async def acme(node):
    token = await node.tenant("acme")
    async with node.as_("acme", token) as client:
        for login, role in (("perm", "permission-manager"), ("dora", "directory-manager")):
            assert (
                await client.post("users", json={"login": login, "password": PASSWORD})
            ).status_code == 201
            grant = {"principal": login, "role": role}
            assert (await client.post("site-roles", json=grant)).status_code == 201
    return token


async def test_a_wrong_password_and_bad_tokens_are_refused_with_their_codes(node, acme):
    body = {"login": "tadmin", "password": "not-it-at-all"}
    response = await node.client.post(node.api("acme") + "auth/login", json=body)
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "login_failed",
        "message": "invalid login or password",
    }
    missing = await node.client.get(node.api("acme") + "users")
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "token_missing")
    async with node.as_("acme", "not-a-jwt") as client:
        malformed = await client.get("users")
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (401, "token_malformed")


async def test_an_unknown_tenant_or_site_answers_an_unproven_caller_as_a_known_one(node, acme):
    """No tenant enumeration: what a caller without a valid token of the tenant sees is the
    same whether the tenant (or site) in the URL exists or not."""

    async def answers(tenant: str, site: str = "root") -> list[tuple[int, object]]:
        api = f"/ztna/{tenant}/{site}/api/"
        body = {"login": "tadmin", "password": "not-it-at-all"}
        seen = [
            await node.client.post(api + "auth/login", json=body),
            await node.client.get(api + "users"),
            await node.client.get(api + "users", headers={"Authorization": "Bearer not-a-jwt"}),
        ]
        shown = [(r.status_code, r.json()) for r in seen]
        login_page = await node.client.get(f"/ztna/{tenant}/{site}/login")
        return [*shown, (login_page.status_code, "login" in login_page.text)]

    known = await answers("acme")
    assert known[0] == (
        401,
        {"error": {"code": "login_failed", "message": "invalid login or password"}},
    )
    assert known[3] == (200, True)
    assert await answers("nowhere") == known
    assert await answers("acme", "nosite") == known


async def test_a_token_on_another_or_unknown_tenant_is_refused_as_wrong_tenant(node, acme):
    async with node.as_("nowhere", acme) as client:
        refused = await client.get("users")
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "token_wrong_tenant",
        "message": "the token was issued by tenant 'acme' and is not valid on tenant 'nowhere'",
    }


async def test_bad_user_input_is_refused_and_writes_nothing(node, acme):
    async with node.as_("acme", acme) as client:
        before = (await client.get("users")).json()
        weak = await client.post("users", json={"login": "eve", "password": "short"})
        bad_login = await client.post("users", json={"login": "a b", "password": PASSWORD})
        after = (await client.get("users")).json()
    assert (weak.status_code, weak.json()["error"]["code"]) == (422, "weak_password")
    assert (bad_login.status_code, bad_login.json()["error"]["code"]) == (422, "invalid_login")
    assert after == before


async def test_nobody_grants_a_role_they_do_not_hold(node, acme):
    token = await node.login("acme", "perm")
    async with node.as_("acme", token) as client:
        response = await client.post(
            "site-roles", json={"principal": "perm", "role": "administrator"}
        )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "escalation_refused"


async def test_a_directory_manager_cannot_change_the_tenant_administrator(node, acme):
    token = await node.login("acme", "dora")
    async with node.as_("acme", token) as client:
        response = await client.patch("users/tadmin", json={"password": "Taken-Over-1!"})
    assert (response.status_code, response.json()["error"]["code"]) == (403, "escalation_refused")
    assert await node.login("acme", "tadmin")
