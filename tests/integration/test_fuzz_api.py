"""Schemathesis against a live node: a bounded fuzz and stateful run finds no server error.

The fuzzer acts as the tenant's administrator with an API token. Path parameters are pinned
to objects made for it (an asset, a script, a peer node, a job, a user and that user's token),
so generated requests reach real objects instead of 404s, and no request can disable or
lock the fuzzer's own credential.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.assets import add_asset
from tests.support.identity import add_user, create_tenant, expect, issue_token
from tests.support.jobs import start_jobs, wait_job

# Bounded for CI: a few examples per operation, a fixed seed so a failure replays.
MAX_EXAMPLES = 8
SEED = 20261125


def _fixtures(node) -> tuple[str, dict[str, str]]:
    admin = create_tenant(node, "corp")
    with node.client("corp", token=admin) as client:
        add_user(client, "victim", "auditor")
        victim_token, _ = issue_token(client, "victim", description="fuzzed")
        _, jwt = issue_token(client, "tadmin", description="the fuzzer's own")
        box = add_asset(client, "fuzz-box", "container")
        # Port 9 (discard) on loopback: jobs fail fast, never reach a host.
        host = add_asset(
            client,
            "fuzz-host",
            "unix-host",
            box["id"],
            properties={"host": "127.0.0.1", "port": 9},
            secrets={"username": "root", "password": "Fuzz-Secret-1"},
        )
        expect(client.post("scripts", json={"name": "fuzz", "type": "shell", "body": "id"}), 201)
        peer = {"name": "fuzz-peer", "url": "https://127.0.0.1:9/ztna/remote/root"}
        peer_id = expect(client.post("peer-nodes", json=peer), 201)["id"]
        (job,) = start_jobs(client, host["id"])
        wait_job(client, job["id"])
    pinned = {
        "path.tenant": "corp",
        "path.site": "root",
        "path.login": "victim",
        "path.token_id": victim_token,
        "path.asset_id": host["id"],
        "path.script": "fuzz",
        "path.peer_id": peer_id,
        "path.job_id": job["id"],
        "path.name": "no-such-tenant",
    }
    return jwt, pinned


def test_fuzzing_the_api_finds_no_server_error(node_factory, tmp_path):
    node = node_factory("fuzzed")
    jwt, pinned = _fixtures(node)
    config = tmp_path / "schemathesis.toml"
    config.write_text("[parameters]\n" + "".join(f'"{k}" = "{v}"\n' for k, v in pinned.items()))
    report = tmp_path / "report"
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(config),
        "run",
        f"{node.base_url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        # One worker: hypothesis parses lambdas with ast in worker threads, which CPython
        # 3.11.7 can refuse ("AST constructor recursion depth mismatch", fixed in 3.11.8).
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {jwt}",
        "--tls-verify",
        str(node.cert_path),
        "--exclude-path-regex",
        "auth/logout$",
        "--report",
        "junit",
        "--report-dir",
        str(report),
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    summary = run.stdout[-4000:]
    assert "Server error" not in run.stdout, summary
    assert run.returncode == 0, summary
    assert " 500 " not in node.log_text(), "the node logged a 500 during the fuzz run"
