"""Hosts backed by a real sshd, and running jobs on them until they end."""

from __future__ import annotations

import time
from typing import Any

import httpx

from pamnode.lab.sshd import SshServer
from tests.support.assets import add_asset
from tests.support.identity import expect

FINISHED = {"succeeded", "failed", "cancelled", "timed_out"}


def ssh_host(
    client: httpx.Client, sshd: SshServer, name: str, parent: str | None = None
) -> dict[str, Any]:
    return add_asset(
        client,
        name,
        "unix-host",
        parent,
        properties={"host": sshd.address, "port": sshd.port},
        secrets={"username": sshd.user, "password": sshd.password},
    )


def start_jobs(client: httpx.Client, asset_id: str, task: str = "unix-status-check", **extra: Any):
    body = {"task": task, **extra}
    return expect(client.post(f"assets/{asset_id}/execute", json=body), 202)["jobs"]


def wait_job(
    client: httpx.Client, job_id: str, timeout: float = 90, states: set[str] = FINISHED
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"jobs/{job_id}")
        if response.status_code == 200 and response.json()["state"] in states:
            return response.json()
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not in {sorted(states)} after {timeout} s")


def run_jobs(client: httpx.Client, asset_id: str, task: str = "unix-status-check", **extra: Any):
    return [wait_job(client, job["id"]) for job in start_jobs(client, asset_id, task, **extra)]
