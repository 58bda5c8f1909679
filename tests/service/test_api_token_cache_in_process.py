"""The cache of verified API-token callers (pamnode/identity/caller_cache.py), in-process.

The node remembers a caller for `api_token_cache_s` (1 s here). What each test shows is
behaviour, never speed: the SQL statements a request sends to the database (counted on the
node's engine), and which answers come back when. Most tests give the node a cache on a
clock of their own, so that "within the bound" and "at once" do not depend on how fast this
machine runs; one shows the bound on the real clock.

A change "this node cannot see" is written with SQL on the engine, outside any ORM session:
what another node sharing the database, or an administrator at the database, would do.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, event, update

from pamnode.app.node import Node
from pamnode.app.settings import Settings
from pamnode.http import deps
from pamnode.identity.caller_cache import CallerCache
from pamnode.identity.models import ApiToken, User
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.service.conftest import InProcessNode, in_process_node
from tests.support.identity import (
    add_user_async,
    error_of,
    expect,
    issue_token_async,
)

TTL_S = 1.0
ELSEWHERE = "10.9.9.9"
_serial = itertools.count(1)


@pytest.fixture(scope="module")
async def node(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessNode]:
    """An in-process node (as tests/service/conftest.py's) whose cache keeps callers 1 s."""
    async with in_process_node(
        tmp_path_factory.mktemp("caller-cache"), api_token_cache_s=TTL_S
    ) as started:
        yield started


def pam_node(node: InProcessNode) -> Node:
    app: Any = node.transport.app
    result: Node = app.state.node
    return result


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(node) -> Iterator[Clock]:
    """The node's cache on a clock that moves only when the test moves it."""
    pam = pam_node(node)
    kept = pam.callers
    fake = Clock()
    pam.callers = CallerCache(TTL_S, clock=fake)
    try:
        yield fake
    finally:
        pam.callers = kept


@contextmanager
def counted(node: InProcessNode) -> Iterator[list[str]]:
    """The SQL statements sent to the database (the requests' engine) inside the block."""
    engine = pam_node(node).engine.sync_engine
    sent: list[str] = []

    def note(_conn, _cursor, statement, _params, _context, _many) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", note)


@pytest.fixture(scope="module")
async def acme(node) -> str:
    """Tenant acme (sites root and dc2); its administrator's session token."""
    token = await node.tenant("acme")
    async with node.as_("acme", token) as client:
        expect(await client.post("sites", json={"name": "dc2"}), 201)
    return token


@pytest.fixture
async def service(node, acme) -> tuple[str, str, str]:
    """A new service user of acme with an API token: (login, token id, JWT)."""
    login = f"svc-{next(_serial)}"
    async with node.as_("acme", acme) as admin:
        await add_user_async(admin, login, "service")
        token_id, jwt = await issue_token_async(admin, login)
    return login, token_id, jwt


async def peer_info(
    node: InProcessNode, jwt: str, tenant: str = "acme", site: str = "root", source: str = ""
) -> httpx.Response:
    transport = node.transport
    if source:
        transport = httpx.ASGITransport(app=node.transport.app, client=(source, 40000))
    async with httpx.AsyncClient(
        transport=transport,
        base_url=f"https://testserver{node.api(tenant, site)}",
        headers={"Authorization": f"Bearer {jwt}"},
    ) as client:
        return await client.get("peer/info")


async def warm(node: InProcessNode, jwt: str) -> None:
    """Use the token until the node serves it from its cache (no SQL at all)."""
    expect(await peer_info(node, jwt), 200)
    with counted(node) as sent:
        expect(await peer_info(node, jwt), 200)
    assert sent == []


async def behind_the_nodes_back(node: InProcessNode, statement: Any) -> None:
    """A change this node's database sessions never see: another node's, or SQL by hand."""
    async with pam_node(node).engine.begin() as connection:
        await connection.execute(statement)


# --- the cache serves -------------------------------------------------------------------


async def test_a_verified_token_is_served_again_without_the_database(node, service, clock):
    _, _, jwt = service
    with counted(node) as first:
        verified = expect(await peer_info(node, jwt), 200)
    with counted(node) as second:
        cached = expect(await peer_info(node, jwt), 200)
    # The signing tenant, the user, the token, the site of the URL, the roles.
    assert len(first) >= 5
    assert second == []
    assert {**cached, "time": None} == {**verified, "time": None}


async def test_a_burst_with_one_new_token_verifies_it_once(node, service, clock):
    """Requests that come while the token is being verified wait for that verification."""
    _, _, jwt = service
    with counted(node) as alone:
        expect(await peer_info(node, jwt), 200)
    clock.now += TTL_S + 1  # forgotten: the burst below finds nothing remembered
    with counted(node) as burst:
        answers = await asyncio.gather(*(peer_info(node, jwt) for _ in range(20)))
    assert [answer.status_code for answer in answers] == [200] * 20
    assert sorted(burst) == sorted(alone)


async def test_a_burst_with_a_refused_token_refuses_every_request(node, acme, service, clock):
    """Nothing is remembered of a refusal: each waiter verifies for itself, and is refused."""
    login, token_id, jwt = service
    async with node.as_("acme", acme) as admin:
        await _disable(admin, login, token_id)
    answers = await asyncio.gather(*(peer_info(node, jwt) for _ in range(5)))
    assert [error_of(answer, 401)["code"] for answer in answers] == ["token_disabled"] * 5


async def test_a_login_session_is_verified_on_every_request(node, service, clock):
    login, _, _ = service
    session = await node.login("acme", login)
    for _ in range(2):
        with counted(node) as sent:
            expect(await peer_info(node, session), 200)
        assert sent
    assert len(pam_node(node).callers) == 0


async def test_routes_and_the_audit_see_a_cached_caller_as_before(node, acme, clock):
    async with node.as_("acme", acme) as admin:
        await add_user_async(admin, "ada", "administrator")
        _, jwt = await issue_token_async(admin, "ada")
    async with node.as_("acme", jwt) as ada:
        expect(await ada.get("users"), 200)
        with counted(node) as sent:
            expect(await ada.get("users"), 200)
        # Listing users is one query; the caller cost none.
        assert len(sent) == 1
        # Writes through the cached caller: a user, a role grant, a token for that user.
        await add_user_async(ada, "bob", "auditor")
        expect(await ada.get("users/bob"), 200)
        token_id, _ = await issue_token_async(ada, "bob")
        # The caller's own user row, changed through a cached caller (its password hash was
        # never cached, the row is read when the change needs it).
        await warm_route(ada, "users")
        changed = await ada.patch("users/ada", json={"first_name": "Ada", "password": "Ada-New-1!"})
        assert expect(changed, 200)["first_name"] == "Ada"
        await warm_route(ada, "users")
        refused = await ada.patch("users/ada", json={"locked": True})
        assert error_of(refused, 422)["code"] == "self_lock"
        events = expect(await ada.get("audit-events", params={"actor": "ada"}), 200)
    assert await node.login("acme", "ada", "Ada-New-1!")
    done = {(e["action"], e["target"], e["source"], e["outcome"]) for e in events}
    assert {
        ("user.create", "bob", "127.0.0.1", "success"),
        ("site-role.grant", "bob", "127.0.0.1", "success"),
        ("api-token.create", token_id, "127.0.0.1", "success"),
        ("user.update", "ada", "127.0.0.1", "success"),
    } <= done
    assert {(e["tenant"], e["site"]) for e in events} == {("acme", "root")}


async def warm_route(client: httpx.AsyncClient, path: str) -> None:
    expect(await client.get(path), 200)
    expect(await client.get(path), 200)


# --- revocation on this node: at once ---------------------------------------------------


async def _disable(admin: httpx.AsyncClient, login: str, token_id: str) -> None:
    expect(await admin.patch(f"api-tokens/{token_id}", json={"enabled": False}), 200)


async def _delete_token(admin: httpx.AsyncClient, login: str, token_id: str) -> None:
    expect(await admin.delete(f"api-tokens/{token_id}"), 204)


async def _narrow_filter(admin: httpx.AsyncClient, login: str, token_id: str) -> None:
    expect(await admin.patch(f"api-tokens/{token_id}", json={"filter": ["10.0.0.0/8"]}), 200)


async def _lock(admin: httpx.AsyncClient, login: str, token_id: str) -> None:
    expect(await admin.patch(f"users/{login}", json={"locked": True}), 200)


async def _delete_user(admin: httpx.AsyncClient, login: str, token_id: str) -> None:
    expect(await admin.delete(f"users/{login}"), 204)


async def _revoke_role(admin: httpx.AsyncClient, login: str, token_id: str) -> None:
    grants = expect(await admin.get("site-roles"), 200)
    (grant,) = [g for g in grants if g["principal"] == login]
    expect(await admin.delete(f"site-roles/{grant['id']}"), 204)


@pytest.mark.parametrize(
    ("revoke", "status", "code"),
    [
        (_disable, 401, "token_disabled"),
        (_delete_token, 401, "token_revoked"),
        (_narrow_filter, 403, "token_source_denied"),
        (_lock, 403, "token_owner_locked"),
        (_delete_user, 401, "token_revoked"),
        (_revoke_role, 403, "permission_denied"),
    ],
    ids=["disable", "delete-token", "filter", "lock-user", "delete-user", "revoke-role"],
)
async def test_revoking_through_this_node_refuses_the_cached_token_at_once(
    node, acme, service, clock, revoke, status, code
):
    login, token_id, jwt = service
    await warm(node, jwt)
    async with node.as_("acme", acme) as admin:
        await revoke(admin, login, token_id)
    # The cache's clock has not moved: only the revocation can refuse it.
    assert error_of(await peer_info(node, jwt), status)["code"] == code


async def test_a_granted_role_counts_at_once(node, acme, service, clock):
    login, _, jwt = service
    async with node.as_("acme", jwt) as caller:
        await warm_route(caller, "peer/info")
        assert error_of(await caller.get("audit-events"), 403)["code"] == "permission_denied"
        async with node.as_("acme", acme) as admin:
            grant = {"principal": login, "role": "auditor"}
            expect(await admin.post("site-roles", json=grant), 201)
        expect(await caller.get("audit-events"), 200)


async def test_deleting_the_tenant_refuses_its_cached_tokens_at_once(node, clock):
    admin_token = await node.tenant("doomed")
    async with node.as_("doomed", admin_token) as admin:
        await add_user_async(admin, "svc", "service")
        _, jwt = await issue_token_async(admin, "svc")
    expect(await peer_info(node, jwt, tenant="doomed"), 200)
    with counted(node) as sent:
        expect(await peer_info(node, jwt, tenant="doomed"), 200)
    assert sent == []
    base = await node.login("base", ADMIN_LOGIN, ADMIN_PASSWORD)
    async with node.as_("base", base) as client:
        expect(await client.delete("tenants/doomed"), 204)
    refused = await peer_info(node, jwt, tenant="doomed")
    # Its signing key went with it.
    assert error_of(refused, 401)["code"] == "token_bad_signature"


async def test_a_verification_that_raced_a_revocation_is_not_kept(
    node, service, clock, monkeypatch
):
    """The token is verified, then disabled before the caller would be kept: not kept."""
    _, token_id, jwt = service
    real = deps.verify_caller

    async def verify_then_revoked(*args: Any) -> Any:
        verified = await real(*args)
        async with pam_node(node).database.begin() as other:
            row = await other.get(ApiToken, token_id)
            assert row is not None
            row.enabled = False
        return verified

    monkeypatch.setattr(deps, "verify_caller", verify_then_revoked)
    expect(await peer_info(node, jwt), 200)
    monkeypatch.setattr(deps, "verify_caller", real)
    assert len(pam_node(node).callers) == 0
    assert error_of(await peer_info(node, jwt), 401)["code"] == "token_disabled"


# --- what this node cannot see: within the bound ----------------------------------------


def _sql_disable(token_id: str, login: str) -> Any:
    return update(ApiToken.__table__).where(ApiToken.id == token_id).values(enabled=False)


def _sql_delete(token_id: str, login: str) -> Any:
    return delete(ApiToken.__table__).where(ApiToken.id == token_id)


def _sql_expire(token_id: str, login: str) -> Any:
    past = datetime.now(UTC) - timedelta(hours=2)
    return update(ApiToken.__table__).where(ApiToken.id == token_id).values(expires_at=past)


def _sql_lock(token_id: str, login: str) -> Any:
    return update(User.__table__).where(User.login == login).values(locked=True)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        (_sql_disable, 401, "token_disabled"),
        (_sql_delete, 401, "token_revoked"),
        (_sql_expire, 401, "token_expired"),
        (_sql_lock, 403, "token_owner_locked"),
    ],
    ids=["disable", "delete", "expire", "lock-user"],
)
async def test_a_change_this_node_cannot_see_refuses_within_the_bound(
    node, service, clock, change, status, code
):
    login, token_id, jwt = service
    await warm(node, jwt)
    await behind_the_nodes_back(node, change(token_id, login))
    # Until the bound, the node still answers from what it verified.
    clock.now += TTL_S / 2
    expect(await peer_info(node, jwt), 200)
    clock.now += TTL_S / 2
    assert error_of(await peer_info(node, jwt), status)["code"] == code


async def test_the_bound_is_the_setting_on_the_real_clock(node, service):
    assert pam_node(node).callers.ttl_s == TTL_S
    _, token_id, jwt = service
    await warm(node, jwt)
    await behind_the_nodes_back(node, _sql_disable(token_id, ""))
    await asyncio.sleep(TTL_S + 0.1)
    assert error_of(await peer_info(node, jwt), 401)["code"] == "token_disabled"


async def test_an_entry_never_outlives_its_token(node, acme, service, clock):
    login, _, _ = service
    pam = pam_node(node)
    pam.callers = CallerCache(3600, clock=clock)
    expires = datetime.now(UTC) + timedelta(seconds=30)
    async with node.as_("acme", acme) as admin:
        _, jwt = await issue_token_async(admin, login, expires_at=expires.isoformat())
    await warm(node, jwt)
    clock.now += 25
    with counted(node) as before_expiry:
        expect(await peer_info(node, jwt), 200)
    clock.now += 6
    with counted(node) as after_expiry:
        # Verified again (still within the clock leeway of docs/identity.md).
        expect(await peer_info(node, jwt), 200)
    assert before_expiry == []
    assert after_expiry


# --- the cache does not widen what a token reaches --------------------------------------


async def test_a_cached_token_elsewhere_is_refused_as_before(node, acme, service, clock):
    login, _, _ = service
    await node.tenant("globex")
    async with node.as_("acme", acme) as admin:
        _, jwt = await issue_token_async(admin, login, filter=["127.0.0.0/8"])
    await warm(node, jwt)
    wrong_site = await peer_info(node, jwt, site="dc2")
    assert error_of(wrong_site, 403)["code"] == "token_wrong_site"
    wrong_source = await peer_info(node, jwt, source=ELSEWHERE)
    error = error_of(wrong_source, 403)
    assert error["code"] == "token_source_denied" and ELSEWHERE in error["message"]
    assert error_of(await peer_info(node, jwt, tenant="globex"), 403)["code"] == (
        "token_wrong_tenant"
    )
    # The refusal reached the audit trail, from where it came, as without a cache.
    async with node.as_("acme", acme) as admin:
        events = expect(await admin.get("audit-events", params={"outcome": "denied"}), 200)
    assert ("token_source_denied", ELSEWHERE) in {
        (e["details"].get("code"), e["source"]) for e in events
    }
    # And the cached caller is still served where it was verified.
    with counted(node) as sent:
        expect(await peer_info(node, jwt), 200)
    assert sent == []


async def test_the_cache_holds_a_bounded_number_of_callers(node, acme, clock):
    pam = pam_node(node)
    pam.callers = CallerCache(3600, max_entries=2, clock=clock)
    jwts = []
    async with node.as_("acme", acme) as admin:
        await add_user_async(admin, "svc-many", "service")
        for _ in range(3):
            jwts.append((await issue_token_async(admin, "svc-many"))[1])
    for jwt in jwts:
        expect(await peer_info(node, jwt), 200)
    assert len(pam.callers) == 2
    with counted(node) as oldest:
        expect(await peer_info(node, jwts[0]), 200)
    with counted(node) as newest:
        expect(await peer_info(node, jwts[2]), 200)
    assert oldest and newest == []


async def test_zero_seconds_turns_the_cache_off(node, service, clock):
    _, _, jwt = service
    pam = pam_node(node)
    pam.callers = CallerCache(0, clock=clock)
    for _ in range(2):
        with counted(node) as sent:
            expect(await peer_info(node, jwt), 200)
        assert sent
    assert len(pam.callers) == 0


def test_the_setting_defaults_to_five_seconds_and_reads_its_variable(monkeypatch):
    monkeypatch.delenv("PAMNODE_API_TOKEN_CACHE_S", raising=False)
    assert Settings().api_token_cache_s == 5.0
    monkeypatch.setenv("PAMNODE_API_TOKEN_CACHE_S", "0")
    assert Settings().api_token_cache_s == 0
