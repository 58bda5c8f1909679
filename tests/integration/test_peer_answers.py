"""What a main believes of a peer: a rogue peer over real TLS answers the protocol badly.

Each case was a finding of the hardening review: a peer that answers `running` at once kept a
20 s job running for 100 s with 1,978 requests; non-JSON or missing fields failed the job as
`internal_error` with its attempt left open; Test Connection answered 500 for a non-JSON 200;
a spoofed node signature was accepted; 20 MB of output were stored.
"""

from __future__ import annotations

import time

import pytest

from tests.support.assets import add_asset
from tests.support.identity import create_tenant, expect
from tests.support.jobs import start_jobs, wait_job
from tests.support.peers import check_connection, establish_trust
from tests.support.rogue_peer import HUGE_BYTES, RoguePeer

GRACE_S = 3
CAP_BYTES = 1024 * 1024


@pytest.fixture(scope="module")
def world(node_factory, tmp_path_factory):
    main = node_factory("main", env={"PAMNODE_PEER_FOLLOW_GRACE_S": str(GRACE_S)})
    admin = create_tenant(main, "corp")
    with RoguePeer(tmp_path_factory.mktemp("rogue"), "remote") as rogue:
        with main.client("corp", token=admin) as client:
            body = {"name": "rogue", "url": rogue.url, "access_token": rogue.access_token()}
            peer = expect(client.post("peer-nodes", json=body), 201)
            establish_trust(client, peer["id"])
            box = add_asset(client, "beyond", "container")
            expect(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "rogue"}), 201)
            host = {
                "name": "far-1",
                "type": "unix-host",
                "parent_id": box["id"],
                "properties": {"host": "10.99.0.1", "port": 22},
                "secrets": {"username": "root", "password": "Rogue-Secret-1"},
            }
            asset = expect(client.post("assets", json=host), 201)
        yield main, admin, rogue, peer["id"], asset["id"]


def _run(main, admin, asset_id: str, timeout_s: int = 30) -> dict:
    with main.client("corp", token=admin) as client:
        (job,) = start_jobs(client, asset_id, timeout_s=timeout_s)
        return wait_job(client, job["id"], timeout_s + GRACE_S + 30)


def _closed_attempt(job: dict) -> dict:
    (attempt,) = job["attempts"]
    assert attempt["peer_node"] == "rogue"
    assert attempt["finished_at"] is not None, attempt
    return attempt


def test_a_peer_that_answers_at_once_is_held_to_the_deadline(world):
    main, admin, rogue, _, asset_id = world
    rogue.mode = "impatient"
    before = rogue.requests["feed"]
    started = time.monotonic()
    job = _run(main, admin, asset_id, timeout_s=2)
    took = time.monotonic() - started
    assert job["state"] == "timed_out", job
    assert job["error_code"] == "timeout"
    assert "did not finish the job within its 2 s" in job["error"]
    assert _closed_attempt(job)["outcome"] == "timed_out"
    assert took < 2 + GRACE_S + 15, took
    # A pause after each answer without news: a handful of requests, not thousands (plus, at
    # most, the first read of the peer's cursor and the last look at the deadline).
    asked = rogue.requests["feed"] - before
    assert asked <= (2 + GRACE_S) / 2 + 3 + 2, asked
    assert rogue.requests["cancel"] >= 1


@pytest.mark.parametrize(
    ("mode", "names"),
    [
        ("garbage", "(it is not JSON)"),
        ("missing_fields", "(jobs.0.exit_status: Field required)"),
        ("post_garbage", "POST peer/jobs/batch breaks the peer protocol (it is not JSON)"),
    ],
)
def test_an_answer_that_breaks_the_contract_fails_the_job_with_its_own_reason(world, mode, names):
    main, admin, rogue, _, asset_id = world
    rogue.mode = mode
    job = _run(main, admin, asset_id)
    assert job["state"] == "failed", job
    assert job["error_code"] == "peer_answer_invalid"
    assert "breaks the peer protocol" in job["error"] and names in job["error"], job["error"]
    attempt = _closed_attempt(job)
    assert attempt["outcome"] == "refused" and attempt["error"] == job["error"]


def test_a_result_signed_for_another_tenant_is_refused(world):
    main, admin, rogue, _, asset_id = world
    rogue.mode = "spoofed"
    job = _run(main, admin, asset_id)
    assert job["state"] == "failed", job
    assert job["error_code"] == "peer_signature_mismatch"
    assert job["node_signature"] != "spoofed::acme::root"
    assert "spoofed::acme::root" in job["error"] and "remote/root" in job["error"]
    assert _closed_attempt(job)["outcome"] == "refused"


def test_huge_output_is_capped_and_marked(world):
    main, admin, rogue, _, asset_id = world
    rogue.mode = "huge"
    job = _run(main, admin, asset_id)
    assert job["state"] == "succeeded", job
    assert job["node_signature"] == "rogue::remote::root"
    stored = job["output"].encode()
    assert CAP_BYTES <= len(stored) < CAP_BYTES + 200
    assert f"output truncated, {CAP_BYTES} of {HUGE_BYTES} bytes kept" in job["output"]


def test_test_connection_reports_a_non_json_answer(world):
    main, admin, rogue, peer_id, _ = world
    rogue.mode = "garbage"
    with main.client("corp", token=admin) as client:
        report = check_connection(client, peer_id)
    assert report["ok"] is False
    assert report["code"] == "peer_answer_invalid"
    assert "GET peer/info" in report["reason"]


def test_the_credential_never_reaches_the_main_log(world):
    main, *_ = world
    assert "Rogue-Secret-1" not in main.log_text()
