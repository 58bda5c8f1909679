"""`GET /metrics` of real nodes: a main after a job delegated to a real peer, and a node whose
metrics are open only to its token."""

from __future__ import annotations

import httpx
import pytest

from pamnode.lab.node_process import NodeProcess, tls_context
from tests.support.assets import add_asset
from tests.support.identity import create_tenant, error_of, expect
from tests.support.jobs import run_jobs, ssh_host
from tests.support.metrics import sample
from tests.support.peers import add_trusted_peer, prepare_peer_site

TOKEN = "scrape-token-7f3a9c1e5b"


def scrape(node: NodeProcess, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(
        f"{node.base_url}/metrics", headers=headers, verify=tls_context(node.cert_path)
    )


@pytest.fixture(scope="module")
def delegated(node_factory, sshd):
    """A main that ran one status check through its peer; the job and the peer's site URL."""
    main, peer = node_factory("main"), node_factory("peer-dc1")
    jwt = prepare_peer_site(peer, "proxm-27")
    with main.client("corp", token=create_tenant(main, "corp")) as client:
        peer_node = add_trusted_peer(client, "dc1", peer, "proxm-27", jwt)
        box = add_asset(client, "datacenter", "container")
        asset = ssh_host(client, sshd, "web-1", box["id"])
        expect(client.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "dc1"}), 201)
        (job,) = run_jobs(client, asset["id"])
    return main, job, peer_node["url"]


def test_the_main_counts_a_delegated_job_its_peer_and_its_pools(delegated):
    main, job, peer_url = delegated
    assert job["state"] == "succeeded", job
    response = scrape(main)
    assert response.status_code == 200, response.text
    text = response.text
    signature = "peer-dc1::proxm-27::root"
    assert sample(text, "pamnode_jobs", state="succeeded", node_signature=signature) == 1
    assert sample(text, "pamnode_delegation_duration_seconds_count", peer=peer_url) == 1
    assert sample(text, "pamnode_job_duration_seconds_count") == 1
    # The feed's present read before the first job, the batch that sent it, the feed after.
    assert sample(text, "pamnode_peer_requests_total", peer=peer_url, outcome="ok") >= 2
    assert sample(text, "pamnode_failovers_total", kind="job") == 0
    for engine in ("requests", "jobs"):
        assert sample(text, "pamnode_db_pool_size", engine=engine) > 0
        assert sample(text, "pamnode_db_pool_checked_out", engine=engine) >= 0


def test_metrics_open_only_to_the_allowed_networks_or_the_token(node_factory):
    # Loopback is not among the allowed networks: only the token opens the metrics here.
    env = {"PAMNODE_METRICS_ALLOW_CIDRS": "192.0.2.0/24", "PAMNODE_METRICS_TOKEN": TOKEN}
    guarded = node_factory("guarded", env=env)
    refused = error_of(scrape(guarded), 403)
    assert refused["code"] == "metrics_forbidden"
    assert "metrics_allow_cidrs" in refused["message"]
    wrong = scrape(guarded, TOKEN[:-1] + "X")
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert error_of(wrong, 401)["code"] == "metrics_token_refused"
    allowed = scrape(guarded, TOKEN)
    assert allowed.status_code == 200
    assert sample(allowed.text, "pamnode_db_pool_size", engine="requests") > 0
    assert TOKEN not in guarded.log_text()
