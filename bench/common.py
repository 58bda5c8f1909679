"""What the benchmarks share: the tenant they make on each node, Step 1 on a peer, a tolerant
subprocess helper. Imported by `bench/*.py`, which run as scripts (their folder is on the path).
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from pamnode.lab.node_process import NodeProcess

TENANT = "bench"


ADMIN_LOGIN, ADMIN_PASSWORD = "admin", "Bench-Admin-Passw0rd!"


TENANT_PASSWORD = "Bench-Tenant-Passw0rd!"


class BenchError(Exception):
    """The benchmark could not produce a valid measurement."""


def expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise BenchError(
            f"{response.request.method} {response.request.url}: expected {status}, "
            f"got {response.status_code} {response.text[:500]}"
        )
    return response.json() if response.content else None


def create_tenant(node: NodeProcess) -> str:
    """Tenant TENANT with its administrator; return that administrator's session token."""
    base_token = node.login("base", "root", ADMIN_LOGIN, ADMIN_PASSWORD)
    with node.client("base", token=base_token) as base:
        body = {"name": TENANT, "admin_login": "tadmin", "admin_password": TENANT_PASSWORD}
        expect(base.post("tenants", json=body), 201)
    return node.login(TENANT, "root", "tadmin", TENANT_PASSWORD)


def service_token(peer: NodeProcess) -> str:
    """The seed's Step 1 on a peer: a Service user and its unlocked API token."""
    admin = create_tenant(peer)
    with peer.client(TENANT, token=admin) as client:
        expect(client.post("users", json={"login": "svc-main", "password": TENANT_PASSWORD}), 201)
        expect(client.post("site-roles", json={"principal": "svc-main", "role": "service"}), 201)
        expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        body = {"user": "svc-main", "expires_at": expires, "description": "bench main"}
        token_id = expect(client.post("api-tokens", json=body), 201)["id"]
        return str(expect(client.post(f"api-tokens/{token_id}/unlock"), 200)["jwt"])


def run_text(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.rstrip()
    except (OSError, subprocess.SubprocessError):
        return "n/a"
