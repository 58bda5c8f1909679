"""`serve` with `PAMNODE_LOG_FORMAT=json`: a main and its peer, one delegated job on a real sshd,
followed across both logs by its job id and the request ids the main sends (docs/operations.md,
"Following a job across logs"); the libraries' warnings are lines of the log too, and
asyncssh's DSA deprecation noise is in neither the log nor `pamnode init`'s output."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pamnode.lab.node_process import NodeProcess
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.support.identity import PASSWORD, create_tenant, expect
from tests.support.jobs import ssh_host, wait_job
from tests.support.peers import add_trusted_peer, check_connection, prepare_peer_site

JSON_LOGS = {"PAMNODE_LOG_FORMAT": "json"}
# Python's warnings shown once each, as with `python -W default`: the libraries the node imports
# warn (ldap3 uses pyasn1's deprecated names), and each warning must be a line of the log.
WARNINGS_SHOWN = {**JSON_LOGS, "PYTHONWARNINGS": "default"}
DSA_NOISE = re.compile(r"\bDSA\b")
PEER_API = "/ztna/remote/root/api/peer/"


@pytest.fixture(scope="module")
def world(node_factory, sshd):
    # Fresh interpreters: what a node prints while importing is part of its log, and a fork
    # of the zygote (tests/conftest.py) has imported already.
    peer = node_factory("peer", env=JSON_LOGS, fresh=True)
    main = node_factory("main", env=WARNINGS_SHOWN, fresh=True)
    jwt = prepare_peer_site(peer, "remote")
    admin = create_tenant(main, "corp")
    with main.client("corp", token=admin) as client:
        peer_id = add_trusted_peer(client, "far", peer, "remote", jwt)["id"]
        host = ssh_host(client, sshd, "web-1")
        body = {"peer_node": "far"}
        expect(client.post(f"assets/{host['id']}/peer-nodes", json=body), 201)
    return main, peer, admin, peer_id, host["id"], jwt


def log_lines(node: NodeProcess) -> list[dict[str, Any]]:
    """Every line `serve` wrote, each one JSON object (the lab's own start markers aside)."""
    lines = []
    for text in node.log_text().splitlines():
        if not text or text.startswith("=== pamnode.lab:"):
            continue
        line = json.loads(text)
        assert {"time", "level", "logger", "message"} <= set(line), text
        lines.append(line)
    return lines


def test_a_delegated_job_is_followed_across_both_logs(world, sshd):
    main, peer, admin, _, host_id, _ = world
    with main.client("corp", token=admin) as client:
        started = client.post(
            f"assets/{host_id}/execute",
            json={"task": "unix-status-check"},
            headers={"X-Request-ID": "trace-exec-1"},
        )
        assert started.headers["X-Request-ID"] == "trace-exec-1"
        (job,) = expect(started, 202)["jobs"]
        done = wait_job(client, job["id"])
    assert done["state"] == "succeeded" and done["peer_node"] == "far", done
    job_id = job["id"]

    on_main = [line for line in log_lines(main) if line.get("job_id") == job_id]
    queued, sent, ended = on_main
    assert queued["request_id"] == "trace-exec-1"
    assert queued["message"].startswith(f"job {job_id} queued: unix-status-check on web-1")
    assert sent["message"] == f"job {job_id} sent to peer far" and sent["peer"] == "far"
    assert ended["message"] == f"job {job_id} ended: succeeded" and ended["state"] == "succeeded"
    execute_line = _access(main, "trace-exec-1")
    assert (execute_line["method"], execute_line["status"]) == ("POST", 202)

    # The peer logged the batch request with the id the main sent, and the job under it.
    batch = sent["peer_request_id"]
    batch_line = _access(peer, batch)
    assert batch_line["path"] == PEER_API + "jobs/batch" and batch_line["status"] == 202
    on_peer = [line for line in log_lines(peer) if line.get("job_id") == job_id]
    accepted, ended_there = on_peer
    assert accepted["request_id"] == batch
    assert accepted["message"] == (
        f"job {job_id} accepted from svc-main (main node): unix-status-check on {sshd.address}"
    )
    assert ended_there["message"] == f"job {job_id} ended: succeeded"
    # The main learnt the end from a feed request that the peer logged under the same id.
    assert _access(peer, ended["request_id"])["path"].startswith(PEER_API + "jobs/feed?")


def test_a_request_id_given_by_the_caller_reaches_the_peer(world):
    main, peer, admin, peer_id, _, _ = world
    with main.client("corp", token=admin) as client:
        tested = client.post(
            f"peer-nodes/{peer_id}/test-connection", headers={"X-Request-ID": "trace-123"}
        )
    assert tested.headers["X-Request-ID"] == "trace-123"
    assert expect(tested, 200)["ok"] is True
    assert _access(main, "trace-123")["path"].endswith(f"/peer-nodes/{peer_id}/test-connection")
    assert _access(peer, "trace-123")["path"] == PEER_API + "info"


def test_an_unfit_request_id_is_replaced(world):
    main, *_ = world
    with main.client("corp") as client:
        answer = client.get("auth/me", headers={"X-Request-ID": "not a token"})
    made = answer.headers["X-Request-ID"]
    assert made != "not a token"
    assert _access(main, made)["status"] == answer.status_code


def test_no_secret_reaches_either_log(world, sshd):
    main, peer, admin, peer_id, _, jwt = world
    with main.client("corp", token=admin) as client:
        check_connection(client, peer_id)
    for node in (main, peer):
        text = node.log_text()
        for secret in (sshd.password, jwt, admin, ADMIN_PASSWORD, PASSWORD, "Bearer"):
            assert secret not in text, (node.name, secret[:6])


def test_a_library_warning_is_a_json_line_like_any_other(world):
    main, peer, *_ = world
    warned = [line for line in log_lines(main) if line["logger"] == "py.warnings"]
    assert warned, "no library warned under PYTHONWARNINGS=default: this test proves nothing"
    assert {line["level"] for line in warned} == {"WARNING"}
    assert all("Warning: " in line["message"] for line in warned), warned
    # The main's warnings shown, the peer's left at Python's defaults: neither has the noise.
    for node in (main, peer):
        assert not DSA_NOISE.search(node.log_text()), node.name


def test_init_prints_what_it_did_and_nothing_else(tmp_path):
    done = NodeProcess(tmp_path / "fresh", "fresh").init_admin(ADMIN_LOGIN, ADMIN_PASSWORD)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"administrator '{ADMIN_LOGIN}' created in tenant 'base'\n"
    assert done.stderr == ""


def _access(node: NodeProcess, request_id: str) -> dict[str, Any]:
    """The node's access line for the request of this id (exactly one)."""
    (line,) = [
        line
        for line in log_lines(node)
        if line["logger"] == "uvicorn.access" and line.get("request_id") == request_id
    ]
    return line
