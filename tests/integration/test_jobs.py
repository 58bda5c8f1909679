"""Unix Status Checks run here or through a real peer, as the Jobs report shows them."""

from __future__ import annotations

import pytest

from pamnode.lab.ports import free_port
from tests.support.assets import add_asset
from tests.support.db import run_sql
from tests.support.identity import create_tenant, error_of, expect
from tests.support.jobs import run_jobs, ssh_host, wait_job
from tests.support.peers import add_peer, establish_trust, prepare_peer_site

# Both backends: the jobs area's smoke module.
pytestmark = pytest.mark.databases("sqlite", "postgresql")


@pytest.fixture(scope="module")
def world(node_factory, sshd):
    main = node_factory("main")
    peer = node_factory("peer-dc1")
    jwt = prepare_peer_site(peer, "proxm-27")
    admin = create_tenant(main, "corp")
    with main.client("corp", token=admin) as client:
        peer_node = add_peer(client, "dc1", peer, "proxm-27", jwt)
        establish_trust(client, peer_node["id"])
    return main, peer, admin


def test_local_status_check_records_the_main_signature(world, sshd):
    main, _, admin = world
    with main.client("corp", token=admin) as client:
        asset = ssh_host(client, sshd, "local-1")
        (job,) = run_jobs(client, asset["id"])
    assert job["state"] == "succeeded", job
    assert job["node_signature"] == "main::corp::root"
    assert job["peer_node"] is None
    assert job["facts"]["user"] == sshd.user and job["facts"]["kernel"]
    assert [a["peer_node"] for a in job["attempts"]] == [None]
    assert job["host_key"] == sshd.host_key_line


def test_delegated_status_check_carries_the_peer_signature(world, sshd):
    main, peer, admin = world
    with main.client("corp", token=admin) as client:
        box = add_asset(client, "datacenter", "container")
        asset = ssh_host(client, sshd, "web-1", box["id"])
        expect(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "dc1"}), 201)
        (job,) = run_jobs(client, asset["id"])
    assert job["state"] == "succeeded", job
    assert job["node_signature"] == "peer-dc1::proxm-27::root"
    assert job["peer_node"] == "dc1"
    assert [(a["peer_node"], a["outcome"]) for a in job["attempts"]] == [("dc1", "ran")]
    assert job["facts"]["hostname"]
    # The peer keeps its own record of the job, without the credential.
    rows = run_sql(
        peer, "SELECT origin, state, node_signature FROM jobs WHERE id = :id", id=job["id"]
    )
    assert rows == [("peer", "succeeded", "peer-dc1::proxm-27::root")]
    dump = " ".join(str(row) for row in run_sql(peer, "SELECT * FROM jobs"))
    assert sshd.password not in dump
    assert sshd.password not in peer.log_text() and sshd.password not in main.log_text()
    assert sshd.password not in job["output"]


def test_changed_host_key_is_refused(world, sshd):
    main, _, admin = world
    with main.client("corp", token=admin) as client:
        asset = ssh_host(client, sshd, "pinned-1")
        (first,) = run_jobs(client, asset["id"])
        assert first["state"] == "succeeded"
        sshd.replace_host_key()
        try:
            (second,) = run_jobs(client, asset["id"])
        finally:
            sshd.replace_host_key()
    assert second["state"] == "failed" and second["error_code"] == "host_key_changed"


def test_script_from_the_library(world, sshd):
    main, _, admin = world
    with main.client("corp", token=admin) as client:
        body = {"name": "hello", "type": "shell", "body": "echo hello from $(whoami); exit 3"}
        expect(client.post("scripts", json=body), 201)
        asset = ssh_host(client, sshd, "script-1")
        (job,) = run_jobs(client, asset["id"], task="script", script="hello")
    assert job["state"] == "failed" and job["exit_status"] == 3
    assert f"hello from {sshd.user}" in job["output"]


def test_unreachable_endpoint_fails_with_a_network_error(world):
    main, _, admin = world
    with main.client("corp", token=admin) as client:
        asset = add_asset(
            client,
            "nowhere",
            "unix-host",
            properties={"host": "127.0.0.1", "port": free_port()},
            secrets={"username": "x", "password": "y"},
        )
        (job,) = run_jobs(client, asset["id"])
    assert job["state"] == "failed" and job["error_code"] == "network_unreachable", job


def test_container_execution_runs_one_job_per_host(world, sshd):
    main, _, admin = world
    with main.client("corp", token=admin) as client:
        box = add_asset(client, "rack", "container")
        for index in range(3):
            ssh_host(client, sshd, f"rack-{index}", box["id"])
        add_asset(client, "win-1", "windows-host", box["id"], properties={"host": "10.9.9.9"})
        started = expect(
            client.post(f"assets/{box['id']}/execute", json={"task": "unix-status-check"}), 202
        )
        assert started["skipped"] == ["win-1"] and started["batch_id"]
        jobs = [wait_job(client, job["id"]) for job in started["jobs"]]
        page = expect(client.get("jobs", params={"batch_id": started["batch_id"]}), 200)
    assert sorted(job["asset_name"] for job in jobs) == ["rack-0", "rack-1", "rack-2"]
    assert all(job["state"] == "succeeded" for job in jobs)
    assert page["total"] == 3


def test_bad_execute_requests(world, sshd):
    main, _, admin = world
    with main.client("corp", token=admin) as client:
        win = add_asset(client, "win-2", "windows-host", properties={"host": "10.9.9.9"})
        error = error_of(
            client.post(f"assets/{win['id']}/execute", json={"task": "unix-status-check"}), 422
        )
        assert error["code"] == "task_not_for_asset"
        unix = ssh_host(client, sshd, "unix-9")
        error = error_of(client.post(f"assets/{unix['id']}/execute", json={"task": "script"}), 422)
        assert error["code"] == "script_missing"
        assert error_of(client.post(f"assets/{unix['id']}/execute", json={"task": "reboot"}), 422)
        page = expect(client.get("jobs", params={"asset_id": unix["id"]}), 200)
    assert page["total"] == 0
