"""Jobs across two real peers: spread, failover, restarts on either side, cancel, disabling."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.support.assets import add_asset
from tests.support.db import run_sql
from tests.support.identity import create_tenant, expect
from tests.support.jobs import ssh_host, start_jobs, wait_job
from tests.support.peers import add_peer, establish_trust, prepare_peer_site

# Both backends: job recovery and leases live in the database.
pytestmark = pytest.mark.databases("sqlite", "postgresql")


@pytest.fixture(scope="module")
def world(node_factory, sshd):
    main = node_factory("main")
    peers = {name: node_factory(name) for name in ("peer-a", "peer-b")}
    admin = create_tenant(main, "corp")
    with main.client("corp", token=admin) as client:
        ids = {}
        for name, peer in peers.items():
            jwt = prepare_peer_site(peer, "remote")
            ids[name] = add_peer(client, name, peer, "remote", jwt)["id"]
            establish_trust(client, ids[name])
        box = add_asset(client, "dc", "container")
        for name in peers:
            expect(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": name}), 201)
        body = {"name": "slow", "type": "shell", "body": "echo start; sleep 4; echo done"}
        expect(client.post("scripts", json=body), 201)
    return main, peers, admin, box["id"], ids


def test_jobs_spread_over_both_peers(world, sshd):
    main, _, admin, box, _ = world
    with main.client("corp", token=admin) as client:
        rack = add_asset(client, "spread", "container", box)
        for index in range(16):
            ssh_host(client, sshd, f"spread-{index}", rack["id"])
        jobs = [wait_job(client, job["id"]) for job in start_jobs(client, rack["id"])]
    assert all(job["state"] == "succeeded" for job in jobs), [
        (j["state"], j["error_code"], j["error"], j["attempts"])
        for j in jobs
        if j["state"] != "succeeded"
    ]
    used = Counter(job["node_signature"] for job in jobs)
    assert set(used) == {"peer-a::remote::root", "peer-b::remote::root"}, used


def test_failover_when_a_peer_is_down(world, sshd):
    main, peers, admin, box, _ = world
    peers["peer-b"].stop()
    try:
        with main.client("corp", token=admin) as client:
            rack = add_asset(client, "failover", "container", box)
            for index in range(16):
                ssh_host(client, sshd, f"failover-{index}", rack["id"])
            jobs = [wait_job(client, job["id"]) for job in start_jobs(client, rack["id"])]
    finally:
        peers["peer-b"].start()
    assert all(job["node_signature"] == "peer-a::remote::root" for job in jobs)
    failed_over = [job for job in jobs if len(job["attempts"]) == 2]
    # peer-b was the random first pick for about half of them (16 tries: all-or-none is 1 in 30k).
    assert failed_over, "no job picked the stopped peer first"
    first, second = failed_over[0]["attempts"]
    assert (first["peer_node"], first["outcome"]) == ("peer-b", "unreachable")
    assert "cannot connect" in first["error"]
    assert (second["peer_node"], second["outcome"]) == ("peer-a", "ran")


def test_all_peers_down_fails_with_every_reason(world, sshd):
    main, peers, admin, box, _ = world
    for peer in peers.values():
        peer.stop()
    try:
        with main.client("corp", token=admin) as client:
            asset = ssh_host(client, sshd, "stranded", box)
            (job,) = [wait_job(client, j["id"]) for j in start_jobs(client, asset["id"])]
    finally:
        for peer in peers.values():
            peer.start()
    assert job["state"] == "failed" and job["error_code"] == "peers_unreachable"
    assert "peer-a:" in job["error"] and "peer-b:" in job["error"]
    assert sorted(a["peer_node"] for a in job["attempts"]) == ["peer-a", "peer-b"]


def wait_for(condition, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{condition} still false after {timeout} s"
        time.sleep(0.1)


def _disable(client, peer_id, enabled):
    expect(client.patch(f"peer-nodes/{peer_id}", json={"enabled": enabled}), 200)


def test_disabled_peers_are_not_used(world, sshd):
    main, _, admin, box, ids = world
    with main.client("corp", token=admin) as client:
        asset = ssh_host(client, sshd, "only-a", box)
        _disable(client, ids["peer-b"], False)
        try:
            jobs = [
                wait_job(client, j["id"]) for _ in range(6) for j in start_jobs(client, asset["id"])
            ]
        finally:
            _disable(client, ids["peer-b"], True)
        assert {job["node_signature"] for job in jobs} == {"peer-a::remote::root"}
        # With every assignment off, the main runs the job itself.
        view = expect(client.get(f"assets/{asset['id']}/peer-nodes"), 200)
        for assignment in view["assignments"]:
            path = f"assets/{assignment['source']['id']}/peer-nodes/{assignment['id']}"
            expect(client.patch(path, json={"enabled": False}), 200)
        try:
            (job,) = [wait_job(client, j["id"]) for j in start_jobs(client, asset["id"])]
        finally:
            for assignment in view["assignments"]:
                path = f"assets/{assignment['source']['id']}/peer-nodes/{assignment['id']}"
                expect(client.patch(path, json={"enabled": True}), 200)
    assert job["node_signature"] == "main::corp::root" and job["peer_node"] is None


def test_main_restarted_mid_job_takes_the_result_from_the_peer(world, sshd):
    main, _, admin, box, _ = world
    with main.client("corp", token=admin) as client:
        asset = ssh_host(client, sshd, "restart-main", box)
        (job,) = start_jobs(client, asset["id"], task="script", script="slow", timeout_s=60)
        # The peer's long-poll answers at each change, so the main shows the job running.
        running = wait_job(client, job["id"], timeout=15, states={"running"})
        assert running["peer_node"] and running["started_at"]
    main.restart()
    with main.client("corp", token=admin) as client:
        done = wait_job(client, job["id"])
    assert done["state"] == "succeeded", done
    assert done["node_signature"].endswith("::remote::root") and "done" in done["output"]
    assert len(done["attempts"]) == 1


def test_cancel_passes_through_to_the_peer(world, sshd):
    main, peers, admin, box, _ = world
    with main.client("corp", token=admin) as client:
        asset = ssh_host(client, sshd, "cancel-me", box)
        (job,) = start_jobs(client, asset["id"], task="script", script="slow", timeout_s=60)
        # Running: the peer has it (a job cancelled before its batch left is never sent).
        wait_job(client, job["id"], states={"running"})
        cancelled = expect(client.post(f"jobs/{job['id']}/cancel"), 200)
        assert cancelled["state"] == "cancelled"
        peer_name = cancelled["peer_node"]
    query = "SELECT state FROM jobs WHERE id = :id"
    wait_for(lambda: run_sql(peers[peer_name], query, id=job["id"]) == [("cancelled",)])
