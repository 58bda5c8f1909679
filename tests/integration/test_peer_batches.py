"""The peer protocol made for volume keeps every guarantee of the per-job one.

A real peer node serves `POST peer/jobs/batch`, `GET peer/jobs/feed` and `POST peer/jobs/cancel`
to its Service token over real TLS, running status checks and scripts on a real sshd; a real
main node uses them for every delegated job. Each test names the guarantee it holds the
batched protocol to: idempotent by id, never run twice after a restart of either side, a lost
feed resumes from its cursor, cancel passes through, credentials never stored on the peer.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.support.assets import add_asset
from tests.support.db import run_sql
from tests.support.identity import create_tenant, error_of, expect
from tests.support.jobs import FINISHED, ssh_host, start_jobs, wait_job
from tests.support.peers import add_peer, establish_trust, prepare_peer_site

# Both backends: a batch's jobs and the feed cursor are written in one transaction.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

SLOW = "echo start; sleep 6; echo done"


@pytest.fixture(scope="module")
def world(node_factory, sshd):
    peer = node_factory("peer")
    main = node_factory("main")
    jwt = prepare_peer_site(peer, "remote")
    admin = create_tenant(main, "corp")
    with main.client("corp", token=admin) as client:
        box = _delegating_container(client, peer, jwt, "slow", SLOW)
    return main, peer, jwt, admin, box


def _delegating_container(client, peer, jwt: str, script: str, body: str) -> str:
    """Peer `far` trusted, container `dc` assigned to it, a script: the container's id."""
    peer_id = add_peer(client, "far", peer, "remote", jwt)["id"]
    establish_trust(client, peer_id)
    box = add_asset(client, "dc", "container")
    expect(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "far"}), 201)
    expect(client.post("scripts", json={"name": script, "type": "shell", "body": body}), 201)
    return str(box["id"])


def _job(sshd, script: str | None = None, job_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job_id or str(uuid.uuid4()),
        "task": "script" if script else "unix-status-check",
        "target": {"host": sshd.address, "port": sshd.port, "protocol": "ssh"},
        "credential": {"username": sshd.user, "password": sshd.password},
        "timeout_s": 60,
    }
    if script:
        body["script"] = {"type": "shell", "body": script}
    return body


def _feed(peer_api: httpx.Client, after: str, wait: float = 0) -> dict[str, Any]:
    return expect(peer_api.get("peer/jobs/feed", params={"after": after, "wait": wait}), 200)


def _follow(peer_api: httpx.Client, after: str, ids: set[str]) -> tuple[str, dict[str, Any]]:
    """Read the feed from `after` until every job of `ids` has ended; the last cursor and
    the last word on each job."""
    seen: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page = _feed(peer_api, after, wait=5)
        after = page["cursor"]
        seen.update({job["id"]: job for job in page["jobs"] if job["id"] in ids})
        if len(seen) == len(ids) and all(job["state"] in FINISHED for job in seen.values()):
            return after, seen
    raise AssertionError(f"the feed did not bring the end of {ids}: {seen}")


def test_a_batch_is_idempotent_by_id(world, sshd):
    _, peer, jwt, _, _ = world
    jobs = [_job(sshd) for _ in range(3)]
    with peer.client("remote", token=jwt) as api:
        start = _feed(api, "now")["cursor"]
        first = expect(api.post("peer/jobs/batch", json={"jobs": jobs}), 202)["jobs"]
        assert [job["id"] for job in first] == [job["id"] for job in jobs]
        _follow(api, start, {job["id"] for job in jobs})
        # The same ids again, with one new: the known ones are answered as they are, ended.
        again = [*jobs, _job(sshd)]
        second = expect(api.post("peer/jobs/batch", json={"jobs": again}), 202)["jobs"]
        assert [job["state"] for job in second[:3]] == ["succeeded"] * 3
        _follow(api, start, {again[-1]["id"]})
        duplicate = api.post("peer/jobs/batch", json={"jobs": [jobs[0], jobs[0]]})
        assert "appears twice" in error_of(duplicate, 422)["message"]
    ids = [job["id"] for job in again]
    rows = run_sql(
        peer,
        "SELECT j.id, count(a.id) FROM jobs j JOIN job_attempts a ON a.job_id = j.id "
        "WHERE j.id IN (:a, :b, :c, :d) GROUP BY j.id",
        a=ids[0],
        b=ids[1],
        c=ids[2],
        d=ids[3],
    )
    # Each id has one row and ran once: one attempt each.
    assert sorted(rows) == sorted((job_id, 1) for job_id in ids)


def test_the_feed_resumes_from_its_cursor(world, sshd):
    _, peer, jwt, _, _ = world
    jobs = [_job(sshd) for _ in range(2)]
    ids = {job["id"] for job in jobs}
    with peer.client("remote", token=jwt) as api:
        start = _feed(api, "now")["cursor"]
        expect(api.post("peer/jobs/batch", json={"jobs": jobs}), 202)
        end, ended = _follow(api, start, ids)
        assert {job["state"] for job in ended.values()} == {"succeeded"}
        # A reader that lost everything after `start` asks again from there: nothing is lost,
        # and the cursor is the peer's record, not a session's.
        replay = _feed(api, start)
        assert ids <= {job["id"] for job in replay["jobs"]}
        assert replay["cursor"] == end
        assert _feed(api, end) == {"cursor": end, "jobs": [], "more": False}
        # A cursor of another feed (a peer rebuilt at the same address) reads from the start.
        rebuilt = _feed(api, "another-feed:99999")
        assert ids <= {job["id"] for job in rebuilt["jobs"]} or rebuilt["more"]
        refused = api.get("peer/jobs/feed", params={"after": "garbage"})
        assert error_of(refused, 422)["code"] == "feed_cursor_invalid"


def test_cancel_passes_through_in_batches(world, sshd):
    _, peer, jwt, _, _ = world
    jobs = [_job(sshd, SLOW) for _ in range(2)]
    ids = [job["id"] for job in jobs]
    with peer.client("remote", token=jwt) as api:
        start = _feed(api, "now")["cursor"]
        expect(api.post("peer/jobs/batch", json={"jobs": jobs}), 202)
        cancelled = expect(api.post("peer/jobs/cancel", json={"ids": ids}), 200)["jobs"]
        assert [job["id"] for job in cancelled] == ids
        _, ended = _follow(api, start, set(ids))
        assert {job["state"] for job in ended.values()} == {"cancelled"}, ended
        unknown = api.post("peer/jobs/cancel", json={"ids": [str(uuid.uuid4())]})
        assert error_of(unknown, 404)["code"] == "job_not_found"
    # Cancelled before their scripts could end: the peer never wrote "done".
    outputs = run_sql(peer, "SELECT output FROM jobs WHERE id IN (:a, :b)", a=ids[0], b=ids[1])
    assert all("done" not in output for (output,) in outputs)


def test_a_main_follows_many_jobs_with_one_feed_and_stores_its_cursor(world, sshd):
    main, peer, _, admin, box = world
    feed, batch = (
        "GET /ztna/remote/root/api/peer/jobs/feed",
        "POST /ztna/remote/root/api/peer/jobs/batch",
    )
    log = peer.log_text()
    feeds, batches = log.count(feed), log.count(batch)
    with main.client("corp", token=admin) as client:
        rack = add_asset(client, "many", "container", box)
        for index in range(12):
            ssh_host(client, sshd, f"many-{index}", rack["id"])
        jobs = [wait_job(client, job["id"]) for job in start_jobs(client, rack["id"])]
    assert {job["state"] for job in jobs} == {"succeeded"}, [j["error"] for j in jobs]
    assert {job["node_signature"] for job in jobs} == {"peer::remote::root"}
    log = peer.log_text()
    # Sent in batches, not one request per job; followed by the feed, not per job.
    assert log.count(batch) - batches < 12
    assert "GET /ztna/remote/root/api/peer/jobs/" + jobs[0]["id"] not in log
    assert log.count(feed) - feeds < 2 * 12
    ((cursor,),) = run_sql(main, "SELECT cursor FROM job_feed_cursors")
    ((feed_id, seq),) = run_sql(peer, "SELECT feed_id, seq FROM job_feed")
    assert cursor.startswith(f"{feed_id}:") and 0 < int(cursor.split(":")[1]) <= seq


def _slow_job_running(client: httpx.Client, sshd, box: str, name: str) -> dict[str, Any]:
    """A slow script delegated to the peer, once the main shows it running there."""
    asset = ssh_host(client, sshd, name, box)
    (job,) = start_jobs(client, asset["id"], task="script", script="slow", timeout_s=60)
    return wait_job(client, job["id"], timeout=20, states={"running"})


def _runs_on_peer(peer, job_id: str) -> int:
    """How many times the peer started the job (its attempts)."""
    ((runs,),) = run_sql(peer, "SELECT count(*) FROM job_attempts WHERE job_id = :id", id=job_id)
    return int(runs)


def test_a_main_down_while_its_job_ends_takes_the_result_once(world, sshd):
    main, peer, _, admin, box = world
    with main.client("corp", token=admin) as client:
        job = _slow_job_running(client, sshd, box, "ends-while-down")
    main.stop()
    try:
        query = "SELECT state FROM jobs WHERE id = :id"
        deadline = time.monotonic() + 30
        while run_sql(peer, query, id=job["id"]) != [("succeeded",)]:
            assert time.monotonic() < deadline, "the peer did not finish the job"
            time.sleep(0.3)
    finally:
        main.start()
    with main.client("corp", token=admin) as client:
        done = wait_job(client, job["id"])
    assert done["state"] == "succeeded" and "done" in done["output"], done
    assert len(done["attempts"]) == 1 and done["attempts"][0]["outcome"] == "ran"
    assert _runs_on_peer(peer, job["id"]) == 1


def test_a_peer_restarted_mid_job_never_runs_it_again(world, sshd):
    main, peer, _, admin, box = world
    with main.client("corp", token=admin) as client:
        job = _slow_job_running(client, sshd, box, "peer-restarts")
        # Killed, not stopped: a graceful stop waits for open requests (the main's feed
        # long-poll) long enough for the job to end on its own, which is not a restart mid-job.
        peer.kill()
        peer.start()
        done = wait_job(client, job["id"])
    assert done["state"] == "failed" and done["error_code"] == "interrupted", done
    assert len(done["attempts"]) == 1
    time.sleep(7)  # longer than the script: a second run would have written "done"
    rows = run_sql(peer, "SELECT state, output FROM jobs WHERE id = :id", id=job["id"])
    assert rows == [("failed", rows[0][1])] and "done" not in rows[0][1]
    assert _runs_on_peer(peer, job["id"]) == 1


def test_credentials_never_stored_on_the_peer(world, sshd):
    _, peer, _, _, _ = world
    tables = ["jobs", "job_attempts", "audit_events"]
    for table in tables:
        for row in run_sql(peer, f"SELECT * FROM {table}"):
            assert sshd.password not in repr(row), table
    assert sshd.password not in peer.log_text()
    if peer.sqlite_path is not None:
        for path in peer.sqlite_path.parent.glob(peer.sqlite_path.name + "*"):
            assert sshd.password.encode() not in path.read_bytes(), path


def test_a_batch_larger_than_the_peer_takes_is_split(node_factory, sshd):
    """Jobs with a big script, more of them than the peer's body limit takes in one batch:
    the main sends them in smaller batches and every one runs, once, on the peer."""
    peer = node_factory("small-peer", env={"PAMNODE_MAX_BODY_BYTES": str(64 * 1024)})
    main = node_factory("small-main")
    jwt = prepare_peer_site(peer, "remote")
    admin = create_tenant(main, "corp")
    # About 20 KB of script per job: eight jobs are 160 KB, over the peer's 64 KiB.
    script = "echo big-script-ran\n" + "# padding that makes the job large\n" * 600
    with main.client("corp", token=admin) as client:
        box = _delegating_container(client, peer, jwt, "big", script)
        for index in range(8):
            ssh_host(client, sshd, f"big-{index}", box)
        jobs = start_jobs(client, box, "script", script="big")
        done = [wait_job(client, job["id"]) for job in jobs]
    assert [job["state"] for job in done] == ["succeeded"] * 8, done
    assert all("big-script-ran" in job["output"] for job in done)
    assert {job["node_signature"] for job in done} == {f"{peer.name}::remote::root"}
    for job in done:
        assert _runs_on_peer(peer, job["id"]) == 1
