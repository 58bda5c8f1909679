"""The job path in-process: execute, the executor it picks, states, caps, cancel, timeout."""

from __future__ import annotations

import asyncio

import pytest

from pamnode.assets.credentials import Credential
from pamnode.core.errors import ExecutionError
from pamnode.executors.specs import JobSpec, TaskResult

FINISHED = {"succeeded", "failed", "cancelled", "timed_out"}


@pytest.fixture(scope="module")
async def corp(node):
    return await node.tenant("corp")


async def _host(client, name: str, parent: str | None = None, kind: str = "unix-host") -> str:
    body = {
        "name": name,
        "type": kind,
        "parent_id": parent,
        "properties": {"host": "10.1.2.3", "port": 22},
        "secrets": {"username": "ops", "password": "Vault-Secret-1"},
    }
    response = await client.post("assets", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _finished(client, job_id: str) -> dict:
    for _ in range(200):
        job = (await client.get(f"jobs/{job_id}")).json()
        if job["state"] in FINISHED:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


async def _run(client, asset_id: str, **body) -> dict:
    response = await client.post(
        f"assets/{asset_id}/execute", json={"task": "unix-status-check", **body}
    )
    assert response.status_code == 202, response.text
    (job,) = response.json()["jobs"]
    return await _finished(client, job["id"])


async def test_a_job_runs_here_with_the_vault_credential_and_this_node_signature(node, corp):
    async with node.as_("corp", corp) as client:
        asset_id = await _host(client, "web-1")
        node.executor.calls.clear()
        job = await _run(client, asset_id)
    assert job["state"] == "succeeded", job
    assert job["node_signature"] == "svc-main::corp::root"
    assert [a["peer_node"] for a in job["attempts"]] == [None]
    ((spec, credential),) = node.executor.calls
    assert (spec.target.host, spec.target.port, spec.target.protocol) == ("10.1.2.3", 22, "ssh")
    assert (credential.username, credential.password) == ("ops", "Vault-Secret-1")
    assert "Vault-Secret-1" not in repr(credential)


async def test_a_task_that_cannot_run_fails_with_its_code(node, corp):
    def refuse(spec: JobSpec, credential: Credential) -> TaskResult | ExecutionError:
        return ExecutionError("the host refused the credential", code="auth_failed")

    node.executor.answer = refuse
    try:
        async with node.as_("corp", corp) as client:
            job = await _run(client, await _host(client, "web-2"))
    finally:
        node.executor.answer = type(node.executor)().answer
    assert (job["state"], job["error_code"]) == ("failed", "auth_failed")
    assert job["error"] == "the host refused the credential"
    assert job["attempts"][0]["outcome"] == "failed"


async def test_output_beyond_the_cap_is_cut_and_marked(node, corp):
    node.executor.answer = lambda spec, credential: TaskResult(0, "y" * 200_000, {})
    try:
        async with node.as_("corp", corp) as client:
            job = await _run(client, await _host(client, "chatty"))
    finally:
        node.executor.answer = type(node.executor)().answer
    assert job["state"] == "succeeded"
    assert job["output"].startswith("y" * 1000)
    assert "output truncated, 65536 of 200000 bytes kept" in job["output"]


async def test_a_slow_task_times_out_and_a_cancelled_one_is_cancelled(node, corp):
    node.executor.delay_s = 5
    try:
        async with node.as_("corp", corp) as client:
            timed = await _run(client, await _host(client, "slow-1"), timeout_s=1)
            response = await client.post(
                f"assets/{await _host(client, 'slow-2')}/execute",
                json={"task": "unix-status-check"},
            )
            (job,) = response.json()["jobs"]
            cancelled = (await client.post(f"jobs/{job['id']}/cancel")).json()
    finally:
        node.executor.delay_s = 0
    assert (timed["state"], timed["error_code"]) == ("timed_out", "timeout")
    assert cancelled["state"] == "cancelled"


async def test_a_container_runs_one_job_per_host_it_applies_to(node, corp):
    async with node.as_("corp", corp) as client:
        box = (await client.post("assets", json={"name": "rack", "type": "container"})).json()
        for index in range(3):
            await _host(client, f"rack-{index}", box["id"])
        await _host(client, "win-1", box["id"], kind="windows-host")
        response = await client.post(
            f"assets/{box['id']}/execute", json={"task": "unix-status-check"}
        )
        assert response.status_code == 202
        batch = response.json()
        jobs = [await _finished(client, job["id"]) for job in batch["jobs"]]
    assert batch["skipped"] == ["win-1"]
    assert sorted(job["asset_name"] for job in jobs) == ["rack-0", "rack-1", "rack-2"]
    assert {job["state"] for job in jobs} == {"succeeded"}
    assert len({job["batch_id"] for job in jobs}) == 1


async def test_a_job_that_breaks_as_it_is_taken_fails_alone(node, corp, monkeypatch):
    """One job whose start raises fails as internal_error; it does not hold up the queue."""
    from pamnode.peers import routing

    async with node.as_("corp", corp) as client:
        box = (await client.post("assets", json={"name": "shelf", "type": "container"})).json()
        hosts = [await _host(client, f"shelf-{index}", box["id"]) for index in range(3)]
        real = routing.open_secrets

        async def breaks_for_one(db, ring, tenant_id, asset_id):
            if asset_id == hosts[1]:
                raise RuntimeError("a bug met while starting the job")
            return await real(db, ring, tenant_id, asset_id)

        monkeypatch.setattr(routing, "open_secrets", breaks_for_one)
        response = await client.post(
            f"assets/{box['id']}/execute", json={"task": "unix-status-check"}
        )
        assert response.status_code == 202, response.text
        jobs = {j["asset_id"]: await _finished(client, j["id"]) for j in response.json()["jobs"]}
    broken = jobs.pop(hosts[1])
    assert (broken["state"], broken["error_code"]) == ("failed", "internal_error")
    assert broken["error"] == "the job broke: RuntimeError"
    assert broken["attempts"] == []
    assert {job["state"] for job in jobs.values()} == {"succeeded"}


async def test_the_report_counts_up_to_a_bound_past_the_page_but_a_batch_exactly(node, monkeypatch):
    from pamnode.jobs import report

    tenant = await node.tenant("counted")
    async with node.as_("counted", tenant) as client:
        box = (await client.post("assets", json={"name": "rack", "type": "container"})).json()
        for index in range(4):
            await _host(client, f"rack-{index}", box["id"])
        response = await client.post(
            f"assets/{box['id']}/execute", json={"task": "unix-status-check"}
        )
        batch = response.json()["batch_id"]
        monkeypatch.setattr(report, "COUNT_AHEAD", 2)

        async def page(**params: object) -> tuple[int, bool, int]:
            found = (await client.get("jobs", params={"limit": 1, **params})).json()
            return found["total"], found["total_capped"], len(found["jobs"])

        assert await page() == (2, True, 1)
        # Still past the page's end, wherever it starts...
        assert await page(offset=1) == (3, True, 1)
        # ... and exact once the bound reaches past the last job.
        assert await page(offset=2) == (4, False, 1)
        assert await page(batch_id=batch) == (4, False, 1)
