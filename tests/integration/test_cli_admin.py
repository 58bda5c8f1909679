"""Step 1 of the seed from a shell: the admin verbs of `pamnode` against a real node."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.cli import run_cli, run_cli_here
from tests.support.identity import PASSWORD, create_tenant, error_of
from tests.support.peers import cert_sha256


def _shell(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An administrator's shell: its environment (own CLI config) and a password file."""
    # Wide enough that Rich tables do not wrap the cells we look for.
    env = {**os.environ, "PAMNODE_CONFIG_DIR": str(tmp_path / "config"), "COLUMNS": "250"}
    password_file = tmp_path / "pw"
    password_file.write_text(PASSWORD + "\n")
    return env, password_file


def test_peer_administrator_walks_step_one(inprocess_node_factory, tmp_path):
    node = inprocess_node_factory("cli")
    create_tenant(node, "proxm-27")
    env, password_file = _shell(tmp_path)

    url = f"{node.base_url}/ztna/proxm-27/root"
    run_cli_here(
        env,
        "login",
        url,
        "--user",
        "tadmin",
        "--password-file",
        str(password_file),
        "--ca-file",
        str(node.cert_path),
    )
    session_file = tmp_path / "config" / "session.json"
    assert oct(session_file.stat().st_mode & 0o777) == "0o600"

    run_cli_here(env, "user", "add", "svc-main", "--password-file", str(password_file))
    run_cli_here(env, "role", "grant", "svc-main", "service")
    created = run_cli_here(
        env,
        "token",
        "add",
        "--user",
        "svc-main",
        "--expires",
        "2030-01-01",
        "--filter",
        "127.0.0.0/8",
        "--description",
        "main node",
        "--json",
    )
    token_id = json.loads(created.stdout)["id"]
    jwt = run_cli_here(env, "token", "unlock", token_id).stdout.strip()
    run_cli_here(env, "token", "lock", token_id)
    listing = run_cli_here(env, "token", "list").stdout
    assert "svc-main" in listing and "main node" in listing

    with node.client("proxm-27", token=jwt) as svc:
        info = svc.get("peer/info").json()
    assert (info["node"], info["tenant"], info["site"]) == ("cli", "proxm-27", "root")

    refused = run_cli_here(env, "role", "grant", "svc-main", "king", check=False)
    assert refused.returncode == 1
    assert "422: 'king' is not a site role" in refused.stderr

    # A destructive verb asks first; without a yes it does nothing (a process with no terminal
    # to answer from).
    aborted = run_cli(env, "token", "rm", token_id, check=False)
    assert aborted.returncode != 0
    with node.client("proxm-27", token=jwt) as svc:
        assert svc.get("peer/info").status_code == 200
    run_cli_here(env, "token", "rm", token_id, "--yes")
    with node.client("proxm-27", token=jwt) as svc:
        assert error_of(svc.get("peer/info"), 401)["code"] == "token_revoked"

    audit = run_cli_here(env, "audit", "--limit", "100").stdout
    assert "api-token.unlock" in audit and "site-role.grant" in audit


def test_login_to_a_self_signed_node_says_how_and_pins_by_sha256(inprocess_node_factory, tmp_path):
    node = inprocess_node_factory("cli-pin")
    create_tenant(node, "corp")
    env, password_file = _shell(tmp_path)
    url = f"{node.base_url}/ztna/corp/root"
    login = ["login", url, "--user", "tadmin", "--password-file", str(password_file)]

    untrusted = run_cli_here(env, *login, check=False)
    assert untrusted.returncode == 1
    assert "is not trusted here" in untrusted.stderr
    assert "--ca-file" in untrusted.stderr and "--sha256" in untrusted.stderr

    wrong = run_cli_here(env, *login, "--sha256", "AB" * 32, check=False)
    assert wrong.returncode == 1
    assert f"presents a certificate with SHA-256 {cert_sha256(node)}" in wrong.stderr
    assert "nothing was sent to it" in wrong.stderr
    assert not (tmp_path / "config" / "session.json").exists()

    # As an administrator reads it out: lower case, with colons.
    spoken = ":".join(a + b for a, b in zip(*[iter(cert_sha256(node).lower())] * 2, strict=True))
    run_cli_here(env, *login, "--sha256", spoken)
    # Later commands trust that certificate alone.
    assert "tadmin" in run_cli_here(env, "user", "list").stdout
