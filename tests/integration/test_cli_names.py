"""The CLI against a real node, as an administrator types it: things named by name or path
rather than id, ambiguous names refused with their candidates, `--json` on every list and
show, and whole ids in tables however narrow the output."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import pytest

from pamnode.lab.ports import free_port
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.support.assets import add_asset
from tests.support.cli import cli_env, log_in, run_cli_here
from tests.support.identity import PASSWORD, create_tenant, expect
from tests.support.rogue_peer import RoguePeer

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def shell(inprocess_node_factory, tmp_path_factory):
    """A tenant with two containers holding a host named alike, a host of its own name, and
    an administrator's shell logged in to it."""
    node = inprocess_node_factory("cli-names")
    admin = create_tenant(node, "corp")
    home = tmp_path_factory.mktemp("cli-names")
    password_file = home / "pw"
    password_file.write_text(PASSWORD + "\n")
    closed = {"host": "127.0.0.1", "port": free_port()}
    secrets = {"username": "nobody", "password": "nothing"}
    with node.client("corp", token=admin) as client:
        assets = {}
        for container in ("dc1", "dc2"):
            assets[container] = add_asset(client, container, "container")
            assets[f"{container}/web"] = add_asset(client, "web", parent=assets[container]["id"])
        assets["dc1/solo"] = add_asset(
            client, "solo", parent=assets["dc1"]["id"], properties=closed, secrets=secrets
        )
        # Opened, never attached: a row of Reports > Sessions all the same.
        session = expect(client.post(f"assets/{assets['dc1/solo']['id']}/sessions"), 201)
        body = {"name": "edge", "url": f"https://127.0.0.1:{free_port()}/ztna/corp/root"}
        peer = expect(client.post("peer-nodes", json={**body, "job_runner": True}), 201)
    env = cli_env(home / "config")
    log_in(env, node, "corp", "tadmin", password_file, run_cli_here)
    base_password = home / "base-pw"
    base_password.write_text(ADMIN_PASSWORD + "\n")
    base_env = cli_env(home / "base-config")
    log_in(base_env, node, "base", ADMIN_LOGIN, base_password, run_cli_here)
    return env, assets, peer, home, base_env, session["id"]


def as_json(env: dict[str, str], *args: str):
    """What a list or show command prints with --json: JSON and nothing else."""
    return json.loads(run_cli_here(env, *args, "--json").stdout)


def test_names_and_paths_stand_for_ids(shell):
    env, assets, peer, home, *_ = shell

    started = run_cli_here(env, "asset", "execute", "dc1/solo", "unix-status-check").stdout
    listed = as_json(env, "jobs", "list", "--asset", "solo")
    assert listed["total"] == 1 and listed["jobs"][0]["id"] in started
    job = as_json(env, "jobs", "show", listed["jobs"][0]["id"])
    assert (job["asset_id"], job["asset_name"]) == (assets["dc1/solo"]["id"], "solo")

    # A peer node by its name and by its id, on containers named by name and by path.
    run_cli_here(env, "peer", "assign", "dc1", "edge")
    run_cli_here(env, "peer", "assign", "dc2/web", peer["id"], "--disabled")
    seen = as_json(env, "peer", "assignments", "dc1/solo")
    assert [(a["peer_node"], a["inherited"]) for a in seen["assignments"]] == [("edge", True)]
    assert as_json(env, "peer", "show", "edge")["id"] == peer["id"]
    run_cli_here(env, "peer", "unassign", "dc1", "edge", "--yes")
    assert as_json(env, "peer", "assignments", "dc1/solo")["assignments"] == []

    # A user by login or id; a token by its description or its owner; a grant by its user.
    run_cli_here(env, "user", "add", "svc-main", "--password-file", str(home / "pw"))
    user = as_json(env, "user", "show", "svc-main")
    assert as_json(env, "user", "show", user["id"])["login"] == "svc-main"
    run_cli_here(env, "role", "grant", "svc-main", "service")
    expiry = ["--expires", "2030-01-01", "--description", "main node"]
    token = as_json(env, "token", "add", "--user", "svc-main", *expiry)
    assert as_json(env, "token", "show", "main node")["id"] == token["id"]
    run_cli_here(env, "token", "disable", "svc-main")
    assert as_json(env, "token", "show", token["id"])["enabled"] is False
    run_cli_here(env, "role", "revoke", "svc-main", "--yes")
    assert "svc-main" not in [g["principal"] for g in as_json(env, "role", "list")]

    # A grant on an asset, revoked by the user it was made to.
    run_cli_here(env, "asset", "grant", "dc2", "svc-main", "viewer")
    run_cli_here(env, "asset", "revoke", "dc2", "svc-main")
    assert as_json(env, "asset", "permissions", "dc2") == []


def test_an_ambiguous_name_is_refused_with_its_candidates(shell):
    env, assets, *_ = shell
    refused = run_cli_here(env, "asset", "show", "web", check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "2 assets have the name 'web': use the id of one:" in refused.stderr
    for path in ("dc1/web", "dc2/web"):
        assert f"{assets[path]['id']}  {path}" in refused.stderr
    # Either candidate by its path.
    assert as_json(env, "asset", "show", "dc2/web")["id"] == assets["dc2/web"]["id"]

    unknown = run_cli_here(env, "peer", "show", "nowhere", check=False)
    assert unknown.returncode == 1
    assert "no peer node named 'nowhere' here (by id or name)" in unknown.stderr


def test_every_list_and_show_prints_the_apis_json(shell):
    env, assets, peer, _, base_env, session_id = shell
    host = assets["dc1/solo"]["id"]
    job_id = as_json(env, "jobs", "list")["jobs"][0]["id"]
    run_cli_here(env, "script", "add", "uptime", "--file", __file__)
    answers = {
        ("asset", "list"): list,
        ("asset", "list", "--tree"): list,
        ("asset", "show", "dc1/solo"): dict,
        ("asset", "permissions", "solo"): list,
        ("asset", "access", "solo"): dict,
        ("vault", "status"): dict,
        ("jobs", "list", "--asset", "dc1/solo"): dict,
        ("jobs", "show", job_id): dict,
        ("script", "list"): list,
        ("script", "show", "uptime"): dict,
        ("peer", "list"): list,
        ("peer", "show", peer["id"]): dict,
        ("peer", "assignments", "dc1"): dict,
        ("sessions", "list", "--asset", "solo"): dict,
        ("sessions", "show", session_id): dict,
        ("site", "list"): list,
        ("user", "list"): list,
        ("user", "show", "tadmin"): dict,
        ("role", "list"): list,
        ("token", "list"): list,
        ("audit",): list,
    }
    for args, kind in answers.items():
        assert isinstance(as_json(env, *args), kind), args
    assert as_json(env, "asset", "show", "solo")["id"] == host
    # The API's rows as they are, not the table's columns.
    listed = as_json(env, "asset", "list")
    assert {a["id"] for a in listed} == {a["id"] for a in assets.values()}
    assert all("properties" in a for a in listed)
    # Tenants, from the base tenant.
    assert "corp" in [t["name"] for t in as_json(base_env, "tenant", "list")]


def test_tables_keep_whole_ids_in_a_pipe_and_on_a_narrow_terminal(shell):
    env, assets, *_ = shell
    narrow = {**env, "COLUMNS": "40"}
    piped = run_cli_here(narrow, "asset", "list").stdout
    for asset in assets.values():
        # One line per row, however long: the id and the name side by side.
        assert re.search(rf"{asset['id']} +│ +{asset['name']} ", piped), piped

    # On a terminal 50 columns wide the other columns wrap and the table grows wider rather
    # than cut an id.
    shown = _on_terminal({**env, "COLUMNS": "50"}, "asset", "list")
    for asset in assets.values():
        assert asset["id"] in shown, shown


def _on_terminal(env: dict[str, str], *args: str) -> str:
    """What `pamnode ARGS` shows on a terminal (a pseudo-terminal), without its colours."""
    parent, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "pamnode", *args],
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=subprocess.PIPE,
        env={k: v for k, v in env.items() if k not in ("NO_COLOR", "FORCE_COLOR")},
    )
    os.close(child)
    output = b""
    while True:
        try:
            chunk = os.read(parent, 65536)
        except OSError:  # the terminal's other end closed
            break
        if not chunk:
            break
        output += chunk
    os.close(parent)
    assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
    return ANSI.sub("", output.decode().replace("\r\n", "\n"))


def test_a_new_host_or_peer_url_takes_its_secret_again(shell):
    env, _, _, home, *_ = shell
    secret = home / "vault-pw"
    secret.write_text("vault-secret\n")
    run_cli_here(env, "asset", "add", "vaulted", "--type", "unix-host", "--host", "10.0.0.5")
    run_cli_here(env, "asset", "edit", "vaulted", "--password-file", str(secret))
    refused = run_cli_here(env, "asset", "edit", "vaulted", "--host", "10.0.0.6", check=False)
    assert refused.returncode == 1 and "enter its password again" in refused.stderr
    assert as_json(env, "asset", "show", "vaulted")["properties"]["host"] == "10.0.0.5"
    run_cli_here(
        env, "asset", "edit", "vaulted", "--host", "10.0.0.6", "--password-file", str(secret)
    )
    assert as_json(env, "asset", "show", "vaulted")["properties"]["host"] == "10.0.0.6"

    token = home / "peer-token"
    token.write_text(RoguePeer.access_token() + "\n")
    run_cli_here(env, "peer", "edit", "edge", "--token-file", str(token))
    new_url = f"https://127.0.0.1:{free_port()}/ztna/corp/root"
    refused = run_cli_here(env, "peer", "edit", "edge", "--url", new_url, check=False)
    assert refused.returncode == 1
    assert "the URL changed: enter the peer's access token again" in refused.stderr
    run_cli_here(env, "peer", "edit", "edge", "--url", new_url, "--token-file", str(token))
    assert as_json(env, "peer", "show", "edge")["url"] == new_url
