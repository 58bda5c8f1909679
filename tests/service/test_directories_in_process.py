"""LDAP directories in-process, against a real OpenLDAP slapd (LDAPS on loopback, a test
certificate pinned): configuration, Test Connection and its refusals, login by a directory
user, roles through nested groups, and accounts checked at use within the cache bound."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pamnode.app.tls import ensure_self_signed
from pamnode.identity import ssh_keys
from pamnode.lab.ports import free_port
from pamnode.lab.slapd import LdapServer
from tests.service.conftest import InProcessNode, in_process_node
from tests.support.directories import (
    ALICE,
    AUDITORS,
    CAROL,
    DAVE,
    DIRECTORY,
    SERVICE,
    directory_body,
)
from tests.support.identity import add_user_async, error_of, expect, in_days, issue_token_async
from tests.support.keys import key_pair, public_line

# The node's bounds, short so that a directory change shows within the test (each bound is
# waited out whole: these are most of the module's time).
DIRECTORY_CACHE_S = 0.4
API_TOKEN_CACHE_S = 0.4
BOUND_S = DIRECTORY_CACHE_S + API_TOKEN_CACHE_S + 0.3


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("directories")


@pytest.fixture(scope="module")
async def node(data: Path) -> AsyncIterator[InProcessNode]:
    async with in_process_node(
        data, directory_cache_s=DIRECTORY_CACHE_S, api_token_cache_s=API_TOKEN_CACHE_S
    ) as started:
        yield started


@pytest.fixture(scope="module")
async def acme(node: InProcessNode, slapd: LdapServer) -> str:
    """Tenant acme with directory `corp`; its administrator's token."""
    token = await node.tenant("acme")
    async with node.as_("acme", token) as client:
        expect(await client.post("directories", json=directory_body(slapd)), 201)
    return token


async def _login(node: InProcessNode, login: str, password: str) -> tuple[int, dict]:
    body = {"login": login, "password": password}
    response = await node.client.post(node.api("acme") + "auth/login", json=body)
    return response.status_code, response.json()


async def test_a_directory_is_listed_beside_the_local_one_without_its_bind_password(
    node: InProcessNode, acme: str, slapd: LdapServer
) -> None:
    async with node.as_("acme", acme) as client:
        listed = expect(await client.get("directories"), 200)
        shown = expect(await client.get(f"directories/{DIRECTORY}"), 200)
        again = error_of(await client.post("directories", json=directory_body(slapd)), 409)
        local = error_of(
            await client.post("directories", json=directory_body(slapd, name="local")), 409
        )
        untrusted = error_of(
            await client.post(
                "directories", json=directory_body(slapd, name="other", server_sha256=None)
            ),
            422,
        )
    assert [(d["name"], d["kind"]) for d in listed] == [("local", "local"), (DIRECTORY, "ldap")]
    assert shown["login_attributes"] == ["uid"] and shown["in_chain"] is False
    assert shown["server_sha256"] == slapd.cert_sha256
    assert "bind_password" not in shown and slapd.admin_password not in str(listed)
    assert again["code"] == local["code"] == "directory_exists"
    assert untrusted["code"] == "directory_trust_missing"


async def test_test_connection_resolves_a_users_nested_groups(
    node: InProcessNode, acme: str, slapd: LdapServer
) -> None:
    async with node.as_("acme", acme) as client:
        report = expect(
            await client.post(f"directories/{DIRECTORY}/test-connection", json={"user": "alice"}),
            200,
        )
    assert report["ok"] is True and report["code"] is None
    assert report["sha256"] == slapd.cert_sha256
    assert report["users_seen"] == 4 and report["groups_seen"] == 2
    user = report["user"]
    assert (user["dn"], user["mail"], user["disabled"]) == (ALICE.dn, ALICE.mail, False)
    # ops directly; auditors through ops.
    assert user["groups"] == sorted([AUDITORS.dn, f"cn=ops,{AUDITORS.dn.split(',', 1)[1]}"])


async def test_starttls_a_ca_and_a_server_without_the_in_chain_rule_work_too(
    node: InProcessNode, acme: str, slapd: LdapServer
) -> None:
    """StartTLS on the plain port, the server's certificate trusted through a CA file
    instead of a pin, and Active Directory's nested-group search asked of OpenLDAP, which
    lacks it: pamnode walks the groups itself."""
    body = directory_body(
        slapd,
        name="starttls",
        url=f"ldap://127.0.0.1:{slapd.starttls_port}",
        server_sha256=None,
        ca_pem=slapd.cert_pem,
        in_chain=True,
    )
    async with node.as_("acme", acme) as client:
        expect(await client.post("directories", json=body), 201)
        report = expect(
            await client.post("directories/starttls/test-connection", json={"user": "alice"}),
            200,
        )
        expect(await client.delete("directories/starttls"), 204)
    assert report["ok"] is True, report
    assert AUDITORS.dn in report["user"]["groups"] and len(report["user"]["groups"]) == 2


async def test_a_key_rotation_reseals_the_bind_password(node: InProcessNode, acme: str) -> None:
    async with node.as_("acme", acme) as client:
        rotated = expect(await client.post("vault/rotate"), 200)
        report = expect(await client.post(f"directories/{DIRECTORY}/test-connection", json={}), 200)
    assert rotated["resealed"]["directory bind password"] == 1
    assert report["ok"] is True


async def test_test_connection_names_each_failure(
    node: InProcessNode, acme: str, slapd: LdapServer, tmp_path: Path
) -> None:
    # A certificate that vouches for nothing slapd presents.
    other_ca = ensure_self_signed(tmp_path, "not-the-directory", "127.0.0.1")[0].read_text()

    async def probe(client, name: str, **body: str) -> dict:
        return expect(await client.post(f"directories/{name}/test-connection", json=body), 200)

    async with node.as_("acme", acme) as client:
        cases = {
            "bad-bind": {"bind_password": "not-the-password"},
            "closed": {"url": f"ldaps://127.0.0.1:{free_port()}"},
            "no-base": {"user_base": "ou=nowhere,dc=pamnode,dc=test"},
            "other-pin": {"server_sha256": "AB" * 32},
            "other-ca": {"server_sha256": None, "ca_pem": other_ca},
        }
        for name, fields in cases.items():
            expect(
                await client.post("directories", json=directory_body(slapd, name=name, **fields)),
                201,
            )
        reports = {name: await probe(client, name) for name in cases}
        missing = await probe(client, DIRECTORY, user="nobody")
        for name in cases:
            expect(await client.delete(f"directories/{name}"), 204)
        gone = error_of(await client.get("directories/closed"), 404)
    codes = {name: (r["ok"], r["code"]) for name, r in reports.items()}
    assert codes == {
        "bad-bind": (False, "directory_bind_refused"),
        "closed": (False, "directory_unreachable"),
        "no-base": (False, "directory_base_not_found"),
        "other-pin": (False, "directory_tls_pin_mismatch"),
        "other-ca": (False, "directory_tls_untrusted"),
    }
    messages = [r["reason"] for r in [*reports.values(), missing]]
    assert len(set(messages)) == len(messages)
    assert slapd.cert_sha256 in reports["other-pin"]["reason"]
    assert (missing["ok"], missing["code"]) == (False, "directory_user_not_found")
    assert "nobody" in missing["reason"]
    assert gone["code"] == "directory_not_found"


async def test_a_directory_user_logs_in_with_its_directory_password_never_stored(
    node: InProcessNode, acme: str
) -> None:
    plain = await _login(node, "alice", ALICE.password)
    qualified = await _login(node, f"alice@{DIRECTORY}", ALICE.password)
    wrong = await _login(node, "alice", "not-alices-password")
    unknown = await _login(node, "nobody-at-all", "whatever-password")
    assert plain[0] == qualified[0] == 200
    assert (wrong[0], wrong[1]["error"]["code"]) == (401, "login_failed")
    assert unknown == wrong
    async with node.as_("acme", acme) as client:
        alice = expect(await client.get(f"users/alice@{DIRECTORY}"), 200)
        password = error_of(
            await client.patch(f"users/alice@{DIRECTORY}", json={"password": "Another-Passw0rd"}),
            422,
        )
    assert password["code"] == "directory_user_password"
    assert alice["directory_dn"] == ALICE.dn
    assert (alice["first_name"], alice["last_name"], alice["mail"]) == (
        "Alice",
        "Liddell",
        ALICE.mail,
    )


async def test_a_directory_user_registers_an_ssh_key_the_proxy_finds_by_its_login(
    node: InProcessNode, acme: str
) -> None:
    status, body = await _login(node, "alice", ALICE.password)
    assert status == 200
    key = key_pair()
    async with node.as_("acme", body["token"]) as client:
        row = expect(
            await client.post("account/ssh-keys", json={"public_key": public_line(key)}), 201
        )
    blob = base64.b64decode(public_line(key).split()[1])
    async with node.state.database.begin() as db:
        for login in ("alice", f"alice@{DIRECTORY}"):
            found = await ssh_keys.sign_in_with_key(
                db, "acme", "root", login, blob, node.state.accounts
            )
            assert found is not None and found[0].user.login == f"alice@{DIRECTORY}"
            assert found[1] == row["fingerprint"]
        assert (
            await ssh_keys.sign_in_with_key(db, "acme", "root", "carol", blob, node.state.accounts)
            is None
        )


async def test_a_group_role_reaches_members_of_nested_groups_and_never_the_service_role(
    node: InProcessNode, acme: str
) -> None:
    alice = (await _login(node, "alice", ALICE.password))[1]["token"]
    dave = (await _login(node, "dave", DAVE.password))[1]["token"]
    async with node.as_("acme", alice) as client:
        before = error_of(await client.get("audit-events"), 403)
    async with node.as_("acme", acme) as client:
        grant = expect(
            await client.post(
                f"directories/{DIRECTORY}/group-grants",
                json={"group": "auditors", "role": "auditor"},
            ),
            201,
        )
        service = error_of(
            await client.post(
                f"directories/{DIRECTORY}/group-grants",
                json={"group": "ops", "role": "service"},
            ),
            422,
        )
        unknown = error_of(
            await client.post(
                f"directories/{DIRECTORY}/group-grants",
                json={"group": "no-such-group", "role": "auditor"},
            ),
            404,
        )
        listed = expect(await client.get(f"directories/{DIRECTORY}/group-grants"), 200)
    assert before["code"] == "permission_denied"
    assert (grant["group"], grant["dn"], grant["role"]) == ("auditors", AUDITORS.dn, "auditor")
    assert service["code"] == "group_service_role" and "service" in service["message"]
    assert unknown["code"] == "directory_group_not_found"
    assert [g["id"] for g in listed] == [grant["id"]]
    async with node.as_("acme", alice) as client:
        expect(await client.get("audit-events"), 200)
    async with node.as_("acme", dave) as client:
        assert error_of(await client.get("audit-events"), 403)["code"] == "permission_denied"
    async with node.as_("acme", acme) as client:
        expect(await client.delete(f"site-roles/{grant['id']}"), 204)
    async with node.as_("acme", alice) as client:
        assert error_of(await client.get("audit-events"), 403)["code"] == "permission_denied"


async def test_a_group_role_counts_for_what_its_member_may_grant_and_who_may_act_on_it(
    node: InProcessNode, acme: str
) -> None:
    """alice is an administrator through ops: she may grant what that role holds, and a
    token manager may not issue a token to her (it would use rights the manager lacks)."""
    async with node.as_("acme", acme) as client:
        grant = expect(
            await client.post(
                f"directories/{DIRECTORY}/group-grants",
                json={"group": "ops", "role": "administrator"},
            ),
            201,
        )
        await add_user_async(client, "tokens", "api-token-manager")
    alice = (await _login(node, "alice", ALICE.password))[1]["token"]
    async with node.as_("acme", alice) as client:
        await add_user_async(client, "lou", "auditor")
    tokens = await node.login("acme", "tokens")
    async with node.as_("acme", tokens) as client:
        body = {"user": f"alice@{DIRECTORY}", "expires_at": in_days(1)}
        refused = error_of(await client.post("api-tokens", json=body), 403)
    async with node.as_("acme", acme) as client:
        expect(await client.delete(f"site-roles/{grant['id']}"), 204)
    assert refused["code"] == "escalation_refused"


async def test_an_asset_permission_of_a_group_reaches_its_members_below_the_container(
    node: InProcessNode, acme: str
) -> None:
    async with node.as_("acme", acme) as client:
        box = expect(await client.post("assets", json={"name": "dc", "type": "container"}), 201)
        host = {"name": "web", "type": "unix-host", "parent_id": box["id"]}
        host = expect(
            await client.post("assets", json={**host, "properties": {"host": "10.0.0.1"}}), 201
        )
        body = {"group": "auditors", "asset": box["id"], "role": "viewer"}
        grant = expect(await client.post(f"directories/{DIRECTORY}/asset-grants", json=body), 201)
        again = error_of(await client.post(f"directories/{DIRECTORY}/asset-grants", json=body), 409)
        listed = expect(await client.get(f"directories/{DIRECTORY}/asset-grants"), 200)
    assert again["code"] == "asset_grant_exists"
    assert [(g["group"], g["asset"], g["role"]) for g in listed] == [("auditors", "dc", "viewer")]
    alice = (await _login(node, "alice", ALICE.password))[1]["token"]
    dave = (await _login(node, "dave", DAVE.password))[1]["token"]
    async with node.as_("acme", alice) as client:
        seen = expect(await client.get(f"assets/{host['id']}"), 200)
    async with node.as_("acme", dave) as client:
        hidden = error_of(await client.get(f"assets/{host['id']}"), 404)
    async with node.as_("acme", acme) as client:
        expect(await client.delete(f"assets/{box['id']}/permissions/{grant['id']}"), 204)
    async with node.as_("acme", alice) as client:
        gone = error_of(await client.get(f"assets/{host['id']}"), 404)
    assert seen["name"] == "web"
    assert hidden["code"] == gone["code"] == "asset_not_found"


async def test_leaving_a_group_revokes_its_role_within_the_cache_bound(
    node: InProcessNode, acme: str, slapd: LdapServer
) -> None:
    async with node.as_("acme", acme) as client:
        expect(
            await client.post(
                f"directories/{DIRECTORY}/group-grants",
                json={"group": "auditors", "role": "auditor"},
            ),
            201,
        )
    carol = (await _login(node, "carol", CAROL.password))[1]["token"]
    async with node.as_("acme", carol) as client:
        expect(await client.get("audit-events"), 200)
        await asyncio.to_thread(slapd.remove_member, AUDITORS, CAROL.dn)
        await asyncio.sleep(BOUND_S)
        assert error_of(await client.get("audit-events"), 403)["code"] == "permission_denied"


async def test_a_directory_service_account_drives_the_peer_api_until_it_is_disabled(
    node: InProcessNode, acme: str, slapd: LdapServer
) -> None:
    async with node.as_("acme", acme) as client:
        user = expect(
            await client.post(f"directories/{DIRECTORY}/users", json={"login": SERVICE.uid}), 201
        )
        login = user["login"]
        expect(await client.post("site-roles", json={"principal": login, "role": "service"}), 201)
        _, jwt = await issue_token_async(client, login)
    assert login == f"{SERVICE.uid}@{DIRECTORY}"
    async with node.as_("acme", jwt) as peer_caller:
        expect(await peer_caller.get("peer/info"), 200)
        await asyncio.to_thread(slapd.disable, SERVICE)
        await asyncio.sleep(BOUND_S)
        refused = error_of(await peer_caller.get("peer/info"), 403)
    assert refused["code"] == "directory_account_disabled"
    status, body = await _login(node, SERVICE.uid, SERVICE.password)
    assert (status, body["error"]["code"]) == (403, "directory_account_disabled")


async def test_a_changed_server_certificate_refuses_logins(
    node: InProcessNode, acme: str, slapd: LdapServer
) -> None:
    """Last: the server restarts with another certificate, which the pin refuses."""
    await asyncio.to_thread(slapd.replace_certificate)
    status, body = await _login(node, "dave", DAVE.password)
    assert (status, body["error"]["code"]) == (502, "directory_tls_pin_mismatch")
    assert DAVE.password not in str(body)


def test_no_password_of_a_directory_is_in_the_database_in_clear(
    node: InProcessNode, data: Path, slapd: LdapServer
) -> None:
    database = data / "pamnode.db"
    raw = b"".join(path.read_bytes() for path in data.glob("pamnode.db*"))
    for secret in (slapd.admin_password, ALICE.password, CAROL.password, SERVICE.password):
        assert secret.encode() not in raw
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT login, password_hash FROM users").fetchall()
        details = " ".join(str(row) for row in connection.execute("SELECT * FROM audit_events"))
    assert (f"alice@{DIRECTORY}", "") in rows
    assert slapd.admin_password not in details


async def test_deleting_a_directory_deletes_its_users_with_their_tokens(
    node: InProcessNode, acme: str
) -> None:
    async with node.as_("acme", acme) as client:
        expect(await client.delete(f"directories/{DIRECTORY}"), 204)
        gone = error_of(await client.get(f"users/{SERVICE.uid}@{DIRECTORY}"), 404)
        tokens = expect(await client.get("api-tokens"), 200)
        listed = expect(await client.get("directories"), 200)
    assert gone["code"] == "user_not_found"
    assert all(token["user"] != f"{SERVICE.uid}@{DIRECTORY}" for token in tokens)
    assert [d["name"] for d in listed] == ["local"]
