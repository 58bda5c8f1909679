"""A burst of concurrent executes: every request answers 202 or 503 in time, never a stall.

The finding: `execute` opened a second database session while the request's own held one,
so 55 concurrent executes gave 500s after 30 s, 200 gave 200 x 500, and the node stopped
answering meanwhile. Now a request holds one connection at most, jobs write through a pool of
their own, and a request that finds no connection within a short wait gets 503 with
`Retry-After`. Each accepted job then finishes; none is left queued or running.

The bound is on a stall, not on speed: the jobs accepted early in the burst start their SSH
sessions while the burst is still answered, on the same two cores (the node's loop, sshd and
this test's client). Here the slowest answer takes 4-7 s alone (a burst of 200 bare requests
takes 1.4 s), and 8.5 s was seen with three other shards of the suite on the same two CPUs;
the stall this test was written for took 30 s, so the bound sits at half of that.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from pamnode.lab.node_process import tls_context
from tests.support.identity import create_tenant, expect
from tests.support.jobs import FINISHED, ssh_host

# Both backends: a burst meets SQLite's one writer and PostgreSQL's connection pool.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

BURST = 200
ANSWER_WITHIN_S = 15.0


@pytest.fixture(scope="module")
def world(node_factory, sshd):
    main = node_factory("main")
    admin = create_tenant(main, "corp")
    with main.client("corp", token=admin) as client:
        asset = ssh_host(client, sshd, "busy-1")
    return main, admin, asset["id"]


async def _burst(main, admin: str, asset_id: str) -> list[tuple[int, float, httpx.Response]]:
    limits = httpx.Limits(max_connections=BURST)
    async with httpx.AsyncClient(
        base_url=main.api_url("corp"),
        verify=tls_context(main.cert_path),
        headers={"Authorization": f"Bearer {admin}"},
        timeout=60,
        limits=limits,
    ) as client:

        async def one(index: int) -> tuple[int, float, httpx.Response]:
            started = time.monotonic()
            body = {"task": "unix-status-check", "timeout_s": 120}
            response = await client.post(f"assets/{asset_id}/execute", json=body)
            return index, time.monotonic() - started, response

        return await asyncio.gather(*(one(index) for index in range(BURST)))


def test_a_burst_of_executes_answers_202_or_503_in_time(world):
    main, admin, asset_id = world
    answers = asyncio.run(_burst(main, admin, asset_id))

    statuses = sorted({response.status_code for _, _, response in answers})
    assert set(statuses) <= {202, 503}, statuses
    slow = [(index, round(took, 1)) for index, took, _ in answers if took > ANSWER_WITHIN_S]
    assert slow == [], f"{len(slow)} answers took longer than {ANSWER_WITHIN_S} s: {slow[:10]}"
    busy = [response for _, _, response in answers if response.status_code == 503]
    for response in busy:
        assert int(response.headers["Retry-After"]) >= 1
        assert response.json()["error"]["code"] == "node_busy"
    accepted = [r.json()["jobs"][0]["id"] for _, _, r in answers if r.status_code == 202]
    assert accepted, "no execute was accepted"

    # Every accepted job ends; the node answers meanwhile.
    deadline = time.monotonic() + 240
    with main.client("corp", token=admin) as client:
        while True:
            page = expect(client.get("jobs", params={"asset_id": asset_id, "limit": 1000}), 200)
            states = {job["id"]: job["state"] for job in page["jobs"]}
            waiting = [job_id for job_id in accepted if states.get(job_id) not in FINISHED]
            if not waiting:
                break
            assert time.monotonic() < deadline, f"{len(waiting)} jobs still unfinished"
            time.sleep(1)
    assert {states[job_id] for job_id in accepted} == {"succeeded"}
    assert page["total"] == len(accepted), "a refused execute left a job behind"
