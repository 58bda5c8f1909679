"""The vault over HTTPS: nothing in clear at rest, key rotation across restarts, lost key ring."""

from __future__ import annotations

import json

import pytest

from tests.support.assets import (
    PASSPHRASE,
    add_asset,
    key_version,
    private_key,
    sealed_rows,
)
from tests.support.db import run_sql
from tests.support.identity import (
    PASSWORD,
    add_user,
    create_tenant,
    error_of,
    expect,
    issue_token,
)

# Both backends: key rotation rewrites every sealed column in place.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

HOSTS = 5
USERNAME = "vault-user-narwhal"
PASSWORDS = ["Pa55-zebra-41-vault", "Pa55-okapi-42-vault"]
# Three fields per host, four on the vaulted host, plus the API token's JWT.
SEALED = HOSTS * 3 + 4 + 1


@pytest.fixture(scope="module")
def vault(node_factory):
    node = node_factory("vault")
    admin = create_tenant(node, "acme")
    other = create_tenant(node, "globex", admin="gadmin")
    with node.client("acme", token=admin) as client:
        for i in range(HOSTS):
            secrets = {"username": f"u{i}", "password": f"pw-{i}-rot", "private_key": private_key()}
            add_asset(client, f"host-{i}", secrets=secrets)
        add_user(client, "svc", "service")
        add_user(client, "sam", "asset-manager")
        token_id, jwt = issue_token(client, "svc")
    with node.client("globex", token=other) as client:
        add_asset(client, "theirs", secrets={"password": "globex-pw"})
    return node, admin, token_id, jwt


@pytest.fixture(scope="module")
def vaulted(vault):
    """A host with every vault field set, its password written twice; the values to look for."""
    node, admin, _, _ = vault
    key = private_key()
    with node.client("acme", token=admin) as client:
        secrets = {
            "username": USERNAME,
            "password": PASSWORDS[0],
            "private_key": key,
            "passphrase": PASSPHRASE,
        }
        host = add_asset(client, "vaulted", secrets=secrets)
        # A second generation of the password, so old pages would hold the first one.
        change = {"secrets": {"password": PASSWORDS[1]}}
        expect(client.patch(f"assets/{host['id']}", json=change), 200)
    # The key's body: its armour lines are the same for every key.
    body = "".join(key.strip().splitlines()[1:-1])
    return host, [USERNAME, *PASSWORDS, PASSPHRASE, body[:40], body[-40:]]


def test_the_database_holds_only_sealed_values(vault, vaulted, request):
    node, admin, _, _ = vault
    host, _ = vaulted
    with node.client("acme", token=admin) as client:
        active = expect(client.get("vault"), 200)["active_version"]
    rows = sealed_rows(
        node, request, f"SELECT field, sealed FROM asset_secrets WHERE asset_id = '{host['id']}'"
    )
    assert sorted(field for field, _ in rows) == [
        "passphrase",
        "password",
        "private_key",
        "username",
    ]
    for field, sealed in rows:
        # Key version 1, a 12-byte nonce and a 16-byte tag around the ciphertext.
        assert key_version(sealed) == active, field
        assert len(bytes(sealed)) >= 4 + 12 + 16 + len(USERNAME if field == "username" else "")


def test_no_secret_appears_in_clear_anywhere_in_the_database(vault, vaulted, request):
    node, secrets = vault[0], vaulted[1]
    if node.sqlite_path is not None:
        # Every byte on disk: the database file and its write-ahead log.
        files = [p for p in node.data_dir.glob("pamnode.db*") if p.is_file()]
        assert node.sqlite_path in files
        for path in files:
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"{secret!r} in clear in {path.name}"
        return
    tables = sealed_rows(
        node,
        request,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    )
    assert ("asset_secrets",) in tables
    for (table,) in tables:
        for (row,) in sealed_rows(node, request, f'SELECT t::text FROM "{table}" t'):
            for secret in secrets:
                # bytea columns print as hex, so look for both spellings.
                assert secret not in row and secret.encode().hex() not in row, (table, secret)


def test_the_node_log_never_shows_a_secret(vault, vaulted):
    node, secrets = vault[0], vaulted[1]
    log = node.log_text()
    assert "POST /ztna/acme/root/api/assets" in log
    assert not [secret for secret in secrets if secret in log]


def versions(node, request, tenant):
    """Key version of each sealed value of the tenant, read from the database itself."""
    tenant_sites = (
        f"SELECT s.id FROM sites s JOIN tenants t ON t.id = s.tenant_id WHERE t.name = '{tenant}'"
    )
    assets = sealed_rows(
        node,
        request,
        "SELECT x.sealed FROM asset_secrets x JOIN assets a ON a.id = x.asset_id "
        f"WHERE a.site_id IN ({tenant_sites})",
    )
    tokens = sealed_rows(
        node, request, f"SELECT jwt_sealed FROM api_tokens WHERE site_id IN ({tenant_sites})"
    )
    return sorted(key_version(sealed) for (sealed,) in [*assets, *tokens])


def ring_versions(node, tenant_id):
    entry = json.loads((node.data_dir / "keyring.json").read_text())["tenants"][tenant_id]
    return sorted(int(v) for v in entry["aes_keys"]), entry["retired"]


def check_everything_opens(node, admin, token_id, jwt, version):
    with node.client("acme", token=admin) as client:
        checked = expect(client.post("vault/verify"), 200)
        assert checked == {
            "active_version": version,
            "key_versions": [version],
            "sealed_values": {str(version): checked["sealed_values"][str(version)]},
            "unreadable": [],
        }
        # The plaintext survived: the unlocked JWT is the one issued, and still works.
        assert expect(client.post(f"api-tokens/{token_id}/unlock"), 200)["jwt"] == jwt
    with node.client("acme", token=jwt) as svc:
        expect(svc.get("peer/info"), 200)


def test_rotation_reencrypts_every_value_and_survives_restarts(vault, vaulted, request):
    node, admin, token_id, jwt = vault
    with node.client("acme", token=admin) as client:
        status = expect(client.get("vault"), 200)
        assert status == {
            "active_version": 1,
            "key_versions": [1],
            "sealed_values": {"1": SEALED},
            "unreadable": None,
        }
        assert versions(node, request, "acme") == [1] * SEALED

        rotated = expect(client.post("vault/rotate"), 200)
        assert rotated["version"] == 2 and rotated["dropped_versions"] == [1]
        assert rotated["resealed"] == {
            "api-token jwt": 1,
            "asset secret": SEALED - 1,
            "directory bind password": 0,
            "main-link key": 0,
            "peer-node access token": 0,
            "totp seed": 0,
        }
    assert versions(node, request, "acme") == [2] * SEALED
    [(tenant_id,)] = sealed_rows(node, request, "SELECT id FROM tenants WHERE name = 'acme'")
    assert ring_versions(node, tenant_id) == ([2], [1])
    # Another tenant's key and values are its own.
    assert set(versions(node, request, "globex")) == {1}
    check_everything_opens(node, admin, token_id, jwt, 2)

    with node.client("acme", token=admin) as client:
        added = add_asset(client, "after-rotation", secrets={"password": "new-pw-2"})
    assert versions(node, request, "acme") == [2] * (SEALED + 1)

    node.restart()
    check_everything_opens(node, admin, token_id, jwt, 2)
    with node.client("acme", token=admin) as client:
        assert expect(client.post("vault/rotate"), 200)["dropped_versions"] == [2]
        expect(client.patch(f"assets/{added['id']}", json={"secrets": {"username": "later"}}), 200)
    node.restart()
    check_everything_opens(node, admin, token_id, jwt, 3)
    assert versions(node, request, "acme") == [3] * (SEALED + 2)
    assert ring_versions(node, tenant_id) == ([3], [1, 2])

    with node.client("acme", token=admin) as client:
        events = expect(client.get("audit-events", params={"action": "vault.rotate"}), 200)
    assert [e["details"]["version"] for e in events] == [3, 2]
    assert all(e["actor"] == "tadmin" for e in events)


def test_only_administrators_of_the_root_site_manage_the_vault(vault):
    node, admin, _, _ = vault
    sam = node.login("acme", "root", "sam", PASSWORD)
    with node.client("acme", token=sam) as client:
        for response in (client.post("vault/rotate"), client.get("vault")):
            assert error_of(response, 403)["code"] == "permission_denied"
    with node.client("acme", token=admin) as client:
        expect(client.post("sites", json={"name": "branch"}), 201)
    branch = node.login("acme", "branch", "tadmin", PASSWORD)
    with node.client("acme", "branch", token=branch) as client:
        assert error_of(client.post("vault/rotate"), 403)["code"] == "vault_root_site_only"


def test_a_missing_key_ring_gives_a_clear_error_not_garbage(vault):
    node, admin, token_id, jwt = vault
    ring = node.data_dir / "keyring.json"
    saved = node.data_dir / "keyring.json.moved"
    with node.client("acme", token=admin) as client:
        before = expect(client.get("assets"), 200)
        version = expect(client.get("vault"), 200)["active_version"]
    node.stop()
    ring.rename(saved)
    try:
        node.start()
        with node.client("acme", token=admin) as client:
            body = {"name": "new", "type": "unix-host", "properties": {"host": "h.example"}}
            refusals = [
                client.post("assets", json={**body, "secrets": {"password": "x-123"}}),
                client.patch(f"assets/{before[0]['id']}", json={"secrets": {"password": "y-123"}}),
                client.post("vault/verify"),
                client.post("vault/rotate"),
                client.post(f"api-tokens/{token_id}/unlock"),
            ]
            for response in refusals:
                error = error_of(response, 503)
                assert error["code"] == "vault_unavailable"
                assert "keyring.json is missing" in error["message"]
                assert "restored from backup" in error["message"]
            # What needs no key still works, and nothing was half-written.
            assert expect(client.get("assets"), 200) == before
        with node.client("acme") as anonymous:
            login = anonymous.post("auth/login", json={"login": "tadmin", "password": PASSWORD})
            assert error_of(login, 503)["code"] == "vault_unavailable"
    finally:
        node.stop()
        saved.rename(ring)
        node.start()
    check_everything_opens(node, admin, token_id, jwt, version)


def test_a_rotation_that_cannot_finish_adds_no_key(vault):
    # Finding: each failed rotation still added a key version. One value is made unreadable
    # (another value's bytes, sealed for another row); the rotation refuses before adding.
    node, _, _, _ = vault
    admin = create_tenant(node, "initech", admin="iadmin")
    with node.client("initech", token=admin) as client:
        first = add_asset(client, "one", secrets={"password": "first-pw"})
        second = add_asset(client, "two", secrets={"password": "second-pw"})
        before = expect(client.get("vault"), 200)["key_versions"]
        run_sql(
            node,
            "UPDATE asset_secrets SET sealed = (SELECT sealed FROM asset_secrets "
            "WHERE asset_id = :other AND field = 'password') "
            "WHERE asset_id = :broken AND field = 'password'",
            other=first["id"],
            broken=second["id"],
        )
        refused = error_of(client.post("vault/rotate"), 503)
        after = expect(client.get("vault"), 200)["key_versions"]
        unreadable = expect(client.post("vault/verify"), 200)["unreadable"]
    assert refused["code"] == "vault_unavailable"
    assert "cannot be opened" in refused["message"] and "no key was added" in refused["message"]
    assert after == before
    assert unreadable == [f"asset:{second['id']}:password"]
