"""`GET /metrics` of a node in-process: a job run here and the database pools, as Prometheus
reads them from loopback (allowed by default)."""

from __future__ import annotations

from tests.service.conftest import NODE_NAME
from tests.service.test_jobs_in_process import _host, _run
from tests.support.metrics import sample


async def test_a_job_run_here_shows_in_the_metrics(node):
    corp = await node.tenant("metrics-corp")
    async with node.as_("metrics-corp", corp) as client:
        job = await _run(client, await _host(client, "web-1"))
    assert job["state"] == "succeeded", job
    response = await node.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    signature = f"{NODE_NAME}::metrics-corp::root"
    assert sample(text, "pamnode_jobs", state="succeeded", node_signature=signature) == 1
    assert sample(text, "pamnode_job_duration_seconds_count") >= 1
    # The pools as the settings size them: requests' db_pool_size, jobs' job_concurrency + 4.
    assert sample(text, "pamnode_db_pool_size", engine="requests") == 16
    assert sample(text, "pamnode_db_pool_size", engine="jobs") == 54
    assert sample(text, "pamnode_db_pool_checked_out", engine="jobs") >= 0
