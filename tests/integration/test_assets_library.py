"""The asset library over HTTPS: tree, properties, move, rename, delete, bad input, CLI."""

from __future__ import annotations

import json
import os

import pytest

from tests.support.assets import add_asset, add_chain, private_key
from tests.support.cli import run_cli
from tests.support.identity import PASSWORD, create_tenant, error_of, expect

# Both backends: the assets area's smoke module.
pytestmark = pytest.mark.databases("sqlite", "postgresql")


@pytest.fixture(scope="module")
def lib(node_factory):
    node = node_factory("assets")
    admin = create_tenant(node, "acme")
    with node.client("acme", token=admin) as client:
        yield node, client


def names(nodes):
    return sorted(node["name"] for node in nodes)


def test_types_get_their_default_ports_and_keep_their_properties(lib):
    _, client = lib
    unix = add_asset(client, "web-01", properties={"host": "Web-01.Example.com"}, tags=["b", "a"])
    assert unix["properties"] == {
        "host": "web-01.example.com",
        "port": 22,
        "use_https": False,
        "protocol": None,
        "session_port": None,
    }
    assert unix["tags"] == ["a", "b"]
    assert unix["role"] == "owner"
    winrm = add_asset(client, "dc-01", "windows-host", properties={"host": "192.0.2.7"})
    assert winrm["properties"]["port"] == 5985
    winrms = add_asset(
        client, "dc-02", "windows-host", properties={"host": "2001:db8::7", "use_https": True}
    )
    assert winrms["properties"] == {
        "host": "2001:db8::7",
        "port": 5986,
        "use_https": True,
        "protocol": None,
        "session_port": None,
    }
    custom = add_asset(client, "jump", properties={"host": "jump.example", "port": 2222})
    assert custom["properties"]["port"] == 2222

    # Switching WinRM to HTTPS moves a default port along with it; a chosen port stays.
    switched = expect(
        client.patch(f"assets/{winrm['id']}", json={"properties": {"use_https": True}}), 200
    )
    assert switched["properties"]["port"] == 5986
    same = expect(client.get(f"assets/{custom['id']}"), 200)
    assert same["properties"]["port"] == 2222 and same["description"] == ""


def test_tree_lists_containers_with_their_contents(lib):
    _, client = lib
    dc, linux = add_chain(client, "dc-tree", "linux")
    add_asset(client, "db-01", parent=linux["id"], tags=["db"])
    add_asset(client, "win-01", "windows-host", parent=dc["id"], properties={"host": "w1.example"})

    tree = expect(client.get("assets/tree"), 200)
    top = next(node for node in tree if node["name"] == "dc-tree")
    assert names(top["children"]) == ["linux", "win-01"]
    inner = next(node for node in top["children"] if node["name"] == "linux")
    assert names(inner["children"]) == ["db-01"] and inner["children"][0]["children"] == []

    children = expect(client.get("assets", params={"parent_id": dc["id"]}), 200)
    assert names(children) == ["linux", "win-01"]
    windows = expect(client.get("assets", params={"type": "windows-host"}), 200)
    assert "win-01" in names(windows) and "db-01" not in names(windows)
    assert names(expect(client.get("assets", params={"tag": "db"}), 200)) == ["db-01"]


def test_rename_and_move_keep_the_tree_consistent(lib):
    _, client = lib
    a, b = add_chain(client, "move-a", "move-b")
    other = add_asset(client, "move-other", "container")
    host = add_asset(client, "move-host", parent=b["id"])

    moved = expect(client.patch(f"assets/{b['id']}", json={"parent_id": other["id"]}), 200)
    assert moved["parent_id"] == other["id"]
    renamed = expect(client.patch(f"assets/{host['id']}", json={"name": "renamed-host"}), 200)
    assert renamed["name"] == "renamed-host" and renamed["parent_id"] == b["id"]
    top = expect(client.patch(f"assets/{b['id']}", json={"parent_id": None}), 200)
    assert top["parent_id"] is None
    assert expect(client.get("assets", params={"parent_id": a["id"]}), 200) == []

    taken = add_asset(client, "dup", parent=a["id"])
    add_asset(client, "dup", parent=other["id"])
    clash = error_of(client.patch(f"assets/{taken['id']}", json={"parent_id": other["id"]}), 409)
    assert clash["code"] == "asset_exists" and "'dup'" in clash["message"]


def test_moves_that_would_make_a_loop_are_refused(lib):
    _, client = lib
    outer, middle, inner = add_chain(client, "loop-1", "loop-2", "loop-3")
    host = add_asset(client, "loop-host", parent=outer["id"])
    into_child = error_of(
        client.patch(f"assets/{outer['id']}", json={"parent_id": inner["id"]}), 422
    )
    assert into_child["code"] == "move_loop"
    assert "'loop-3' is inside it" in into_child["message"]
    into_self = error_of(
        client.patch(f"assets/{middle['id']}", json={"parent_id": middle["id"]}), 422
    )
    assert into_self["code"] == "move_loop"
    into_host = error_of(client.patch(f"assets/{inner['id']}", json={"parent_id": host["id"]}), 422)
    assert into_host["code"] == "parent_not_container"
    # Nothing moved.
    assert expect(client.get(f"assets/{outer['id']}"), 200)["parent_id"] is None
    assert expect(client.get(f"assets/{middle['id']}"), 200)["parent_id"] == outer["id"]


def test_non_empty_container_needs_the_recursive_flag(lib):
    _, client = lib
    top, sub = add_chain(client, "rm-top", "rm-sub")
    add_asset(client, "rm-1", parent=top["id"])
    add_asset(client, "rm-2", parent=sub["id"], secrets={"password": "rm-secret-1"})
    refused = error_of(client.delete(f"assets/{top['id']}"), 409)
    assert refused["code"] == "container_not_empty"
    assert "holds 2 assets and 1 containers" in refused["message"]
    assert "recursive" in refused["message"]
    assert len(expect(client.get("assets", params={"parent_id": sub["id"]}), 200)) == 1

    gone = expect(client.delete(f"assets/{top['id']}", params={"recursive": "true"}), 200)
    assert gone == {"name": "rm-top", "deleted_assets": 2, "deleted_containers": 1}
    for asset_id in (top["id"], sub["id"]):
        assert error_of(client.get(f"assets/{asset_id}"), 404)["code"] == "asset_not_found"
    assert not {"rm-1", "rm-2", "rm-sub"} & set(names(expect(client.get("assets"), 200)))


def test_secrets_are_write_only_and_audited_without_values(lib):
    _, client = lib
    key = private_key()
    body = {"username": "root", "password": "audit-pw-6151", "private_key": key}
    host = add_asset(client, "vaulted", secrets={**body, "passphrase": "pp-6151"})
    assert host["secrets"] == {
        "username": True,
        "password": True,
        "private_key": True,
        "passphrase": True,
    }
    cleared = expect(
        client.patch(f"assets/{host['id']}", json={"secrets": {"passphrase": None}}), 200
    )
    assert cleared["secrets"]["passphrase"] is False and cleared["secrets"]["password"] is True
    for shown in (host, cleared, expect(client.get(f"assets/{host['id']}"), 200)):
        text = json.dumps(shown)
        assert "audit-pw-6151" not in text and "PRIVATE KEY" not in text

    events = expect(client.get("audit-events", params={"action": "asset.secrets.write"}), 200)
    mine = [e for e in events if e["target"] == host["id"]]
    written = sorted((e["details"]["written"], e["details"]["cleared"]) for e in mine)
    every = ["passphrase", "password", "private_key", "username"]
    assert written == [([], ["passphrase"]), (every, [])]
    assert "audit-pw-6151" not in json.dumps(events) and "pp-6151" not in json.dumps(events)
    created = expect(client.get("audit-events", params={"action": "asset.create"}), 200)
    assert any(e["target"] == host["id"] and e["details"]["name"] == "vaulted" for e in created)


BAD_INPUT = [
    ({"type": "mainframe"}, "unknown_asset_type", "the types are: container, unix-host"),
    ({"properties": {"host": "h.example", "port": 70000}}, "invalid_port", "1 to 65535"),
    ({"properties": {"host": "h.example", "port": 0}}, "invalid_port", "out of range"),
    ({"properties": {"host": "web 01.example"}}, "invalid_host", "no spaces"),
    ({"properties": {}}, "host_required", "needs a host"),
    ({"name": "a/b"}, "invalid_asset_name", "without '/'"),
    ({"secrets": {"private_key": "x" * 16385}}, "invalid_input", "at most 16384"),
    ({"secrets": {"private_key": "not a key"}}, "invalid_private_key", "BEGIN"),
    ({"secrets": {"passphrase": "pp"}}, "passphrase_without_key", "private_key"),
    ({"secrets": {"password": ""}}, "invalid_secret", "null"),
    ({"type": "container", "properties": {"host": "h"}}, "container_properties", "no connection"),
    (
        {"type": "container", "properties": {}, "secrets": {"password": "x"}},
        "container_secrets",
        "holds no secrets",
    ),
    ({"tags": ["bad tag"]}, "invalid_tag", "tag 'bad tag'"),
    ({"colour": "red"}, "invalid_input", "colour: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("change", "code", "words"), BAD_INPUT, ids=[c for _, c, _ in BAD_INPUT])
def test_bad_input_is_refused_and_changes_nothing(lib, change, code, words):
    _, client = lib
    before = expect(client.get("assets"), 200)
    events_before = expect(client.get("audit-events", params={"limit": 1}), 200)
    body = {"name": "bad-one", "type": "unix-host", "properties": {"host": "10.1.1.1"}, **change}
    error = error_of(client.post("assets", json=body), 422)
    assert error["code"] == code, error
    assert words in error["message"]
    assert expect(client.get("assets"), 200) == before
    assert expect(client.get("audit-events", params={"limit": 1}), 200) == events_before


def test_bad_change_to_an_existing_asset_leaves_it_as_it_was(lib):
    _, client = lib
    host = add_asset(client, "stable", properties={"host": "s.example"}, secrets={"password": "p1"})
    changes = [
        {"name": "stable-2", "properties": {"port": 99999}},
        {"description": "new", "secrets": {"private_key": "-----BEGIN nonsense"}},
        {"type": "windows-host"},
        {"name": None},
        {"parent_id": "no-such-container"},
    ]
    for change in changes:
        response = client.patch(f"assets/{host['id']}", json=change)
        assert response.status_code in (404, 422), (change, response.text)
    after = expect(client.get(f"assets/{host['id']}"), 200)
    assert after == host


def test_the_base_tenant_holds_no_assets(lib):
    node, _ = lib
    base = node.login("base", "root", "admin", "Admin-Passw0rd!")
    with node.client("base", token=base) as client:
        refused = error_of(client.post("assets", json={"name": "x", "type": "container"}), 403)
        assert refused["code"] == "base_tenant_refused"
        assert error_of(client.get("assets"), 403)["code"] == "base_tenant_refused"


# The CLI only speaks REST: one database backend covers it.
@pytest.mark.only_on("sqlite")
def test_cli_manages_the_library_by_path(lib, tmp_path):
    node, client = lib
    env = {**os.environ, "PAMNODE_CONFIG_DIR": str(tmp_path / "config"), "COLUMNS": "250"}
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    run_cli(
        env,
        "login",
        f"{node.base_url}/ztna/acme/root",
        "--user",
        "tadmin",
        "--password-file",
        str(secret),
        "--ca-file",
        str(node.cert_path),
    )
    run_cli(env, "asset", "add", "cli-dc", "--type", "container")
    run_cli(env, "asset", "add", "cli-linux", "--type", "container", "--parent", "cli-dc")
    made = run_cli(
        env,
        "asset",
        "add",
        "cli-web",
        "--type",
        "unix-host",
        "--parent",
        "cli-dc/cli-linux",
        "--host",
        "web.example",
        "--tag",
        "web",
        "--username",
        "deploy",
        "--password-file",
        str(secret),
        "--json",
    )
    host = json.loads(made.stdout)
    assert host["secrets"]["password"] is True and PASSWORD not in made.stdout

    tree = run_cli(env, "asset", "list", "--tree").stdout
    assert tree.index("cli-dc") < tree.index("cli-linux") < tree.index("cli-web")
    shown = json.loads(run_cli(env, "asset", "show", "cli-dc/cli-linux/cli-web", "--json").stdout)
    assert shown["id"] == host["id"] and shown["properties"]["port"] == 22

    expect(client.post("users", json={"login": "cli-op", "password": PASSWORD}), 201)
    run_cli(env, "asset", "grant", "cli-dc", "cli-op", "operator")
    grants = run_cli(env, "asset", "permissions", "cli-dc/cli-linux/cli-web").stdout
    assert "cli-op" in grants and "operator" in grants and "cli-dc" in grants

    run_cli(env, "asset", "move", "cli-dc/cli-linux/cli-web", "--to", "cli-dc")
    dc = json.loads(run_cli(env, "asset", "show", "cli-dc", "--json").stdout)
    assert expect(client.get(f"assets/{host['id']}"), 200)["parent_id"] == dc["id"]
    listing = run_cli(env, "asset", "list", "--parent", "cli-dc").stdout
    assert "cli-web" in listing and "cli-linux" in listing

    # The remote-session endpoint, set and changed from a shell.
    desk = json.loads(
        run_cli(
            env,
            "asset",
            "add",
            "cli-desk",
            "--type",
            "windows-host",
            "--parent",
            "cli-dc",
            "--host",
            "desk.example",
            "--protocol",
            "vnc",
            "--session-port",
            "5901",
            "--json",
        ).stdout
    )
    assert (desk["properties"]["protocol"], desk["properties"]["session_port"]) == ("vnc", 5901)
    run_cli(env, "asset", "edit", "cli-dc/cli-desk", "--protocol", "rdp", "--session-port", "3390")
    desk = expect(client.get(f"assets/{desk['id']}"), 200)
    assert (desk["properties"]["protocol"], desk["properties"]["session_port"]) == ("rdp", 3390)

    refused = run_cli(env, "asset", "rm", "cli-dc", "--yes", check=False)
    assert refused.returncode == 1 and "409: container 'cli-dc' is not empty" in refused.stderr
    removed = run_cli(env, "asset", "rm", "cli-dc", "--recursive", "--yes").stdout
    assert "with 2 assets and 1 containers" in removed
    missing = run_cli(env, "asset", "show", "cli-dc", check=False)
    assert missing.returncode == 1 and "no asset named 'cli-dc'" in missing.stderr
