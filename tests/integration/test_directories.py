"""The seed's Step 1 with a directory account: a real OpenLDAP slapd, a peer whose Service
user comes from it, and a main that drives jobs through that peer with its API token; on
SQLite and PostgreSQL, with both databases and both logs read for the passwords."""

from __future__ import annotations

import time

import pytest

from pamnode.lab.slapd import LdapServer
from tests.support.assets import add_asset
from tests.support.cli import cli_env, log_in, run_cli
from tests.support.db import run_sql
from tests.support.directories import ALICE, AUDITORS, DIRECTORY, SERVICE, directory_body
from tests.support.identity import PASSWORD, create_tenant, expect, issue_token
from tests.support.jobs import run_jobs, ssh_host
from tests.support.peers import add_peer, check_connection, establish_trust

# Both backends: directory users are written on first sign-in: the directories area.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

CACHE_ENV = {"PAMNODE_DIRECTORY_CACHE_S": "1", "PAMNODE_API_TOKEN_CACHE_S": "1"}
# Both caches, and a margin.
BOUND_S = 2.5


@pytest.fixture(scope="module")
def world(node_factory, slapd: LdapServer, sshd):
    main = node_factory("main")
    peer = node_factory("peer-dc1", env=CACHE_ENV)
    peer_admin = create_tenant(peer, "proxm-27")
    with peer.client("proxm-27", token=peer_admin) as client:
        expect(client.post("directories", json=directory_body(slapd)), 201)
        login = expect(
            client.post(f"directories/{DIRECTORY}/users", json={"login": SERVICE.uid}), 201
        )["login"]
        expect(client.post("site-roles", json={"principal": login, "role": "service"}), 201)
        _, jwt = issue_token(client, login, description="main node")
    admin = create_tenant(main, "corp")
    with main.client("corp", token=admin) as client:
        peer_node = add_peer(client, "dc1", peer, "proxm-27", jwt)
        establish_trust(client, peer_node["id"])
        box = add_asset(client, "datacenter", "container")
        asset = ssh_host(client, sshd, "web-1", box["id"])
        expect(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "dc1"}), 201)
    return main, peer, admin, peer_node["id"], asset["id"]


def test_a_directory_service_account_drives_a_peer_from_a_main(world):
    main, _, admin, _, asset_id = world
    with main.client("corp", token=admin) as client:
        (job,) = run_jobs(client, asset_id)
    assert job["state"] == "succeeded", job
    assert job["node_signature"] == "peer-dc1::proxm-27::root"


def test_a_directory_user_logs_in_over_https_and_holds_its_nested_groups_roles(world):
    _, peer, _, _, _ = world
    token = peer.login("proxm-27", "root", ALICE.uid, ALICE.password)
    with peer.client("proxm-27", token=token) as client:
        before = client.get("audit-events")
    admin = peer.login("proxm-27", "root", "tadmin", PASSWORD)
    with peer.client("proxm-27", token=admin) as client:
        body = {"group": "auditors", "role": "auditor"}
        expect(client.post(f"directories/{DIRECTORY}/group-grants", json=body), 201)
    with peer.client("proxm-27", token=token) as client:
        after = client.get("audit-events")
    assert before.status_code == 403 and after.status_code == 200


def test_a_disabled_service_account_is_refused_with_its_own_reason(world, slapd):
    main, _, admin, peer_id, _ = world
    slapd.disable(SERVICE)
    try:
        time.sleep(BOUND_S)
        with main.client("corp", token=admin) as client:
            report = check_connection(client, peer_id)
    finally:
        slapd.enable(SERVICE)
    assert report["ok"] is False and report["code"] == "token_refused"
    assert "directory_account_disabled" in report["reason"]
    time.sleep(BOUND_S)
    with main.client("corp", token=admin) as client:
        assert check_connection(client, peer_id)["ok"] is True


def test_no_directory_password_is_in_either_database_or_log(world, slapd):
    main, peer, _, _, _ = world
    secrets = (slapd.admin_password, ALICE.password, SERVICE.password)
    for node in (main, peer):
        dumps = " ".join(
            str(row)
            for table in ("directories", "users", "audit_events")
            for row in run_sql(node, f"SELECT * FROM {table}")
        )
        for secret in secrets:
            assert secret not in dumps
            assert secret not in node.log_text()
    (sealed,) = run_sql(peer, "SELECT bind_password_sealed FROM directories")[0]
    assert slapd.admin_password.encode() not in bytes(sealed)


def test_the_cli_adds_tests_and_grants_a_directory(world, slapd, tmp_path):
    _, peer, _, _, _ = world
    env = cli_env(tmp_path / "config")
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD)
    log_in(env, peer, "proxm-27", "tadmin", password_file)
    bind_file = tmp_path / "bind"
    bind_file.write_text(slapd.admin_password)
    body = directory_body(slapd, name="ldap2")
    run_cli(
        env,
        "directory",
        "add",
        "ldap2",
        "--preset",
        "openldap",
        "--url",
        body["url"],
        "--sha256",
        body["server_sha256"],
        "--bind-dn",
        body["bind_dn"],
        "--bind-password-file",
        str(bind_file),
        "--user-base",
        body["user_base"],
        "--group-base",
        body["group_base"],
    )
    listed = run_cli(env, "directory", "list").stdout
    tested = run_cli(env, "directory", "test", "ldap2", "--user", ALICE.uid).stdout
    refused = run_cli(env, "directory", "grant", "ldap2", "ops", "service", check=False)
    run_cli(env, "directory", "grant", "ldap2", "auditors", "auditor")
    grants = run_cli(env, "directory", "grants", "ldap2").stdout
    with peer.client("proxm-27", token=peer.login("proxm-27", "root", "tadmin", PASSWORD)) as c:
        box = add_asset(c, "cli-box", "container")
    run_cli(env, "directory", "grant-asset", "ldap2", "ops", box["id"], "operator")
    asset_grants = run_cli(env, "directory", "asset-grants", "ldap2").stdout
    run_cli(env, "directory", "rm", "ldap2", "--yes")
    assert "local" in listed and "ldap2" in listed
    assert AUDITORS.dn in tested and slapd.admin_password not in tested + listed
    assert refused.returncode != 0 and "service role" in refused.stderr
    assert "auditors" in grants and "auditor" in grants
    assert "cli-box" in asset_grants and "operator" in asset_grants
