"""What a node trusts of its surroundings: its data directory's modes and forwarded headers.

Findings: with umask 022 the data directory, `tls/` and the SQLite files were world-readable
(Argon2 hashes, audit, job output); Uvicorn's default believed `X-Forwarded-For` from
127.0.0.1, so any local or tunnelled client could pick the source a token's filter checks.
"""

from __future__ import annotations

import os
import stat

from pamnode.lab.node_process import NodeProcess
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.support.identity import create_tenant, error_of, expect, in_days


def _modes(root) -> dict[str, int]:
    found = {}
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_the_data_directory_is_private_even_if_made_open(tmp_path):
    data = tmp_path / "open"
    (data / "tls").mkdir(parents=True)
    os.chmod(data, 0o755)
    os.chmod(data / "tls", 0o755)
    stale = data / "notes.txt"
    stale.write_text("left by an operator")
    os.chmod(stale, 0o644)
    node = NodeProcess(data, "private")
    old = os.umask(0o022)
    try:
        node.start(admin=(ADMIN_LOGIN, ADMIN_PASSWORD))
        create_tenant(node, "corp")
        modes = _modes(data)
    finally:
        os.umask(old)
        node.stop()
    # The node's own log is written by this test's process, not by the node.
    modes.pop("node.log")
    assert {"pamnode.db", "keyring.json", "tls/key.pem", "tls/cert.pem"} <= set(modes)
    loose = {path: oct(mode) for path, mode in modes.items() if mode & 0o077}
    assert loose == {}


def test_forwarded_headers_are_ignored_unless_a_proxy_is_named(node_factory):
    plain = node_factory("direct")
    proxied = node_factory("proxied", env={"PAMNODE_FORWARDED_ALLOW_IPS": "127.0.0.1"})
    for node, believed in ((plain, False), (proxied, True)):
        admin = create_tenant(node, "corp")
        with node.client("corp", token=admin) as client:
            body = {"user": "tadmin", "expires_at": in_days(1), "filter": ["10.9.0.0/16"]}
            token_id = expect(client.post("api-tokens", json=body), 201)["id"]
            jwt = expect(client.post(f"api-tokens/{token_id}/unlock"), 200)["jwt"]
        with node.client("corp", token=jwt) as client:
            response = client.get("auth/me", headers={"X-Forwarded-For": "10.9.1.1"})
        if believed:
            assert expect(response, 200)["login"] == "tadmin"
        else:
            assert error_of(response, 403)["code"] == "token_source_denied"
