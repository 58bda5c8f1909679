"""Several main nodes on one PostgreSQL database: jobs exactly once across them, and what one
node gives (a login, the vault's secrets) good on the other.

Two real main nodes serve one PostgreSQL database with one key ring file (docs/scale.md: the
documented way to share it, `PAMNODE_KEYRING_FILE`), a real peer runs their delegated jobs on a
real sshd. One main is killed with SIGKILL while its jobs run; the other takes them over when
its lease lapses (`jobs/leases.py`, `jobs/recovery.py`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pamnode.crypto.keyring import KeyRing
from pamnode.lab.node_process import NodeProcess
from tests.support.assets import add_asset
from tests.support.cli import run_cli
from tests.support.db import run_sql
from tests.support.identity import PASSWORD, create_tenant, error_of, expect
from tests.support.jobs import FINISHED, ssh_host, wait_job
from tests.support.peers import add_peer, establish_trust, prepare_peer_site

LEASE_S = 6
HOSTS = 10
EXECUTES = 40  # of HOSTS jobs each: 400 jobs
SCRIPT = "sleep 1; echo done"


# Several mains share a database on PostgreSQL only (SQLite refuses a second node).
pytestmark = pytest.mark.databases("postgresql")


@dataclass
class Mains:
    a: NodeProcess
    b: NodeProcess
    peer: NodeProcess
    admin: str
    container: str
    host: str


@pytest.fixture(scope="module")
def mains(node_factory, sshd, tmp_path_factory) -> Iterator[Mains]:
    ring = tmp_path_factory.mktemp("shared") / "keyring.json"
    env = {
        "PAMNODE_JOB_LEASE_S": str(LEASE_S),
        "PAMNODE_DB_POOL_SIZE": "8",
        "PAMNODE_KEYRING_FILE": str(ring),
    }
    peer = node_factory("peer")
    a = node_factory("main-a", env=env)
    jwt = prepare_peer_site(peer, "remote")
    admin = create_tenant(a, "corp")
    with a.client("corp", token=admin) as client:
        peer_id = add_peer(client, "far", peer, "remote", jwt)["id"]
        establish_trust(client, peer_id)
        box = add_asset(client, "dc", "container")
        expect(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "far"}), 201)
        for index in range(HOSTS):
            ssh_host(client, sshd, f"web-{index}", box["id"])
        direct = ssh_host(client, sshd, "direct-1")
        expect(client.post("scripts", json={"name": "nap", "type": "shell", "body": SCRIPT}), 201)
    # The second main: the same database and key ring; its own certificate and node name.
    b = NodeProcess(tmp_path_factory.mktemp("main-b") / "data", "main-b", a.database_url, env=env)
    b.start()
    try:
        yield Mains(a, b, peer, admin, box["id"], direct["id"])
    finally:
        b.stop()


def test_a_login_on_one_main_works_on_the_other(mains):
    token = mains.b.login("corp", "root", "tadmin", PASSWORD)
    with mains.a.client("corp", token=token) as on_a:
        assert expect(on_a.get("auth/me"), 200)["login"] == "tadmin"
    with mains.b.client("corp", token=mains.admin) as on_b:
        assert expect(on_b.get("auth/me"), 200)["login"] == "tadmin"


def test_a_key_rotated_on_one_main_opens_secrets_on_the_other(mains):
    """The host's password was sealed through main-a; main-b opens it to run a job, before
    and after main-a rotates the tenant's key (main-b is not restarted)."""
    with mains.b.client("corp", token=mains.admin) as on_b:
        before = expect(on_b.post("vault/verify"), 200)
    assert (before["active_version"], before["unreadable"]) == (1, [])
    with mains.a.client("corp", token=mains.admin) as on_a:
        assert expect(on_a.post("vault/rotate"), 200)["dropped_versions"] == [1]
    with mains.b.client("corp", token=mains.admin) as on_b:
        # Every sealed value, resealed by main-a under version 2, opens on main-b.
        after = expect(on_b.post("vault/verify"), 200)
        assert (after["active_version"], after["unreadable"]) == (2, [])
        assert list(after["sealed_values"]) == ["2"]
        assert sum(after["sealed_values"].values()) == sum(before["sealed_values"].values())
        # And a job asked of main-b runs with the host's password, whichever main takes it.
        (job,) = expect(
            on_b.post(f"assets/{mains.host}/execute", json={"task": "unix-status-check"}), 202
        )["jobs"]
        assert wait_job(on_b, job["id"])["state"] == "succeeded"


def test_a_node_with_another_key_ring_refuses_to_start(mains, tmp_path):
    """A key ring of its own (another deployment's): refused before it writes anything."""
    ring = KeyRing.create_if_missing(tmp_path / "data" / "keyring.json")
    asyncio.run(ring.add_tenant("elsewhere", None))
    other = NodeProcess(tmp_path / "data", "main-c", mains.a.database_url)
    with pytest.raises(RuntimeError, match="exited"):
        other.start()
    assert "does not belong to this database: it has no keys for tenant 'base'" in (
        other.log_text()
    )


def test_a_cancel_sent_to_either_main_ends_the_job_the_other_runs(mains):
    """The cancel reaches the main that runs the job (a notice through PostgreSQL) and its end
    comes back to the main that was asked, which answers with the cancelled job."""
    with (
        mains.a.client("corp", token=mains.admin) as on_a,
        mains.b.client("corp", token=mains.admin) as on_b,
    ):
        body = {"name": "long", "type": "shell", "body": "sleep 60"}
        expect(on_a.post("scripts", json=body), 201)
        run = {"task": "script", "script": "long", "timeout_s": 120}
        (job,) = expect(on_a.post(f"assets/{mains.host}/execute", json=run), 202)["jobs"]
        running = wait_job(on_a, job["id"], states={"running"})
        other = on_b if running["claimed_by"] == "main-a" else on_a
        cancelled = expect(other.post(f"jobs/{job['id']}/cancel"), 200)
        assert cancelled["state"] == "cancelled", cancelled
        assert cancelled["claimed_by"] == running["claimed_by"]
        assert cancelled["node_signature"].startswith(f"{running['claimed_by']}::")


def test_a_status_check_lost_with_its_main_is_queued_again(mains):
    """A status check only reads its host: lost with the main that ran it, it runs again on
    the other (a script would fail as interrupted: see the next test). Its host here accepts
    the connection and never speaks, so the check is still under way when its main dies."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        with mains.a.client("corp", token=mains.admin) as on_a:
            host = add_asset(
                on_a,
                "silent-1",
                "unix-host",
                properties={"host": "127.0.0.1", "port": port},
                secrets={"username": "ops", "password": "Silent-Pass-1"},
            )
            run = {"task": "unix-status-check", "timeout_s": 120}
            (job,) = expect(on_a.post(f"assets/{host['id']}/execute", json=run), 202)["jobs"]
            lost = wait_job(on_a, job["id"], states={"running"})["claimed_by"]
        holder, survivor = (mains.a, mains.b) if lost == "main-a" else (mains.b, mains.a)
        holder.kill()
        try:
            with survivor.client("corp", token=mains.admin) as client:
                again = _wait_for(client, job["id"], lambda j: len(j["attempts"]) == 2)
                first, second = again["attempts"]
                assert (first["outcome"], again["claimed_by"]) == ("interrupted", survivor.name)
                assert f"main node '{lost}' was lost while running the job" in first["error"]
                assert again["state"] in {"dispatched", "running"}, again
                assert (second["peer_node"], second["finished_at"]) == (None, None)
                assert expect(client.post(f"jobs/{job['id']}/cancel"), 200)["state"] == (
                    "cancelled"
                )
        finally:
            holder.start()


def _wait_for(client, job_id: str, ready) -> dict:
    deadline = time.monotonic() + 4 * LEASE_S
    while not ready(job := expect(client.get(f"jobs/{job_id}"), 200)):
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    return job


def test_jobs_end_exactly_once_when_a_main_is_killed(mains):
    body = {"task": "script", "script": "nap", "timeout_s": 60}
    ids: list[str] = []
    with (
        mains.a.client("corp", token=mains.admin) as on_a,
        mains.b.client("corp", token=mains.admin) as on_b,
    ):
        for index in range(EXECUTES):
            # Alternately; main-a is killed half-way, and the rest go to main-b.
            client = on_a if index % 2 == 0 and mains.a.running else on_b
            answer = expect(client.post(f"assets/{mains.container}/execute", json=body), 202)
            ids += [job["id"] for job in answer["jobs"]]
            if index == EXECUTES // 2:
                # Killed while it holds jobs on their way to the peer, or running there.
                _wait_for_jobs_held_by(mains.a)
                mains.a.kill()
        assert len(ids) == EXECUTES * HOSTS
        deadline = time.monotonic() + 180
        while True:
            ends = _ends(mains.b, ids)
            unfinished = [job_id for job_id, (state, _) in ends.items() if state not in FINISHED]
            if not unfinished:
                break
            assert time.monotonic() < deadline, f"{len(unfinished)} jobs never ended"
            time.sleep(1)
        # Every job ran on the peer at most once; each ended once: it succeeded, or it was
        # one main-a held and it failed as interrupted (it never reached the peer).
        on_peer = Counter(row[0] for row in run_sql(mains.peer, "SELECT id FROM jobs"))
        assert max(on_peer[job_id] for job_id in ids) <= 1
        assert {end for end in ends.values() if end[0] != "succeeded"} <= {
            ("failed", "interrupted")
        }
        assert Counter(state for state, _ in ends.values())["succeeded"] >= len(ids) * 0.9
        # The survivor's reconciliation is in the details of the jobs main-a held.
        taken = [
            expect(on_b.get(f"jobs/{job_id}"), 200)
            for job_id, (claimed,) in _claims(mains.b, ids).items()
            if claimed == "main-b"
        ]
        over = [job for job in taken if any(a["outcome"] == "taken_over" for a in job["attempts"])]
        assert over, "main-b followed none of main-a's jobs"
        for job in over:
            (lost,) = [a for a in job["attempts"] if a["outcome"] == "taken_over"]
            assert "main node 'main-a' was lost; 'main-b' follows the job" in lost["error"]
            # Followed on the peer, never sent again: the peer ran it once, and said so; or
            # main-a died before its batch left, and it failed without ever running.
            if job["state"] == "succeeded":
                assert on_peer[job["id"]] == 1
                assert job["node_signature"] == "peer::remote::root"
            else:
                assert (job["state"], job["error_code"], on_peer[job["id"]]) == (
                    "failed",
                    "interrupted",
                    0,
                ), job
                assert "never reached peer node 'far'" in job["error"]

    # Both mains wrote the audit trail at once (a job.start per job), one was killed with
    # transactions under way: the chain is one, and intact.
    verified = run_cli(
        dict(os.environ),
        "audit",
        "verify",
        "--data",
        str(mains.b.data_dir),
        "--database-url",
        str(mains.b.database_url),
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert "audit chain OK" in verified.stdout


def test_a_second_node_on_one_sqlite_database_is_refused(tmp_path, request):
    """Outside the PostgreSQL pair: two `serve` on one SQLite file."""
    first = NodeProcess(tmp_path / "first", "first")
    first.start()
    request.addfinalizer(first.stop)
    url = f"sqlite+aiosqlite:///{first.data_dir / 'pamnode.db'}"
    second = NodeProcess(tmp_path / "second", "second", url)
    with pytest.raises(RuntimeError, match="exited"):
        second.start()
    assert "already serves the SQLite database" in second.log_text()
    assert "run several main nodes on one PostgreSQL database instead" in second.log_text()
    # The first one serves on.
    with first.client("base") as client:
        assert error_of(client.get("users"), 401)["code"] == "token_missing"


def _wait_for_jobs_held_by(node: NodeProcess) -> None:
    query = (
        "SELECT count(*) FROM jobs "
        "WHERE claimed_by = :holder AND state IN ('dispatched', 'running')"
    )
    deadline = time.monotonic() + 30
    while run_sql(node, query, holder=node.name)[0][0] == 0:
        assert time.monotonic() < deadline, f"{node.name} never held a job"
        time.sleep(0.05)


def _ends(node: NodeProcess, ids: list[str]) -> dict[str, tuple[str, str]]:
    rows = run_sql(node, "SELECT id, state, error_code FROM jobs")
    wanted = set(ids)
    return {job_id: (state, code) for job_id, state, code in rows if job_id in wanted}


def _claims(node: NodeProcess, ids: list[str]) -> dict[str, tuple[str | None]]:
    rows = run_sql(node, "SELECT id, claimed_by FROM jobs")
    wanted = set(ids)
    return {job_id: (claimed,) for job_id, claimed in rows if job_id in wanted}
