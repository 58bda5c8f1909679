"""The seed's steps, done through the public REST API exactly as an administrator would."""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

FINISHED = {"succeeded", "failed", "cancelled", "timed_out"}


class DemoError(Exception):
    """A step of the walkthrough was refused; the message says which and why."""


def call(client: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    response = client.request(method, path, json=body)
    if response.is_error:
        raise DemoError(f"{method} {path}: HTTP {response.status_code} {response.text}")
    return response.json() if response.content else None


def login(client: httpx.Client, user: str, password: str) -> None:
    token = call(client, "POST", "auth/login", {"login": user, "password": password})["token"]
    client.headers["Authorization"] = f"Bearer {token}"


def create_tenant(base: httpx.Client, tenant: str, admin: str, password: str) -> None:
    body = {"name": tenant, "admin_login": admin, "admin_password": password}
    call(base, "POST", "tenants", body)


def configure_peer(peer: httpx.Client, service_user: str, password: str) -> str:
    """Step 1 on the peer: a Service user and its API token; return the unlocked JWT."""
    user = {"login": service_user, "password": password, "first_name": "Main", "last_name": "Node"}
    call(peer, "POST", "users", user)
    call(peer, "POST", "site-roles", {"principal": service_user, "role": "service"})
    expires = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    token = call(
        peer,
        "POST",
        "api-tokens",
        {"user": service_user, "expires_at": expires, "description": "main node"},
    )
    jwt: str = call(peer, "POST", f"api-tokens/{token['id']}/unlock")["jwt"]
    call(peer, "POST", f"api-tokens/{token['id']}/lock")
    return jwt


def configure_main(
    main: httpx.Client, peer_name: str, peer_url: str, jwt: str, gateway_address: str
) -> dict[str, Any]:
    """Step 2 on the main: add the peer (job runner and gateway), verify and establish trust
    in both, test the connection."""
    body = {
        "name": peer_name,
        "job_runner": True,
        "url": peer_url,
        "access_token": jwt,
        "gateway": True,
        "gateway_address": gateway_address,
    }
    peer = call(main, "POST", "peer-nodes", body)
    for component in ("job-runner", "gateway"):
        shown = call(
            main, "POST", f"peer-nodes/{peer['id']}/verify-trust", {"component": component}
        )
        trust = {"component": component, "sha256": shown["sha256"]}
        call(main, "POST", f"peer-nodes/{peer['id']}/establish-trust", trust)
    report: dict[str, Any] = call(main, "POST", f"peer-nodes/{peer['id']}/test-connection")
    if not report["ok"]:
        raise DemoError(f"Test Connection failed: {report['reason']}")
    return report


def add_host(
    main: httpx.Client, container: str, name: str, host: str, port: int, user: str, password: str
) -> tuple[str, str]:
    """A container with one Unix host in it; return (container id, asset id)."""
    box = call(main, "POST", "assets", {"name": container, "type": "container"})
    asset = call(
        main,
        "POST",
        "assets",
        {
            "name": name,
            "type": "unix-host",
            "parent_id": box["id"],
            "properties": {"host": host, "port": port},
            "secrets": {"username": user, "password": password},
        },
    )
    return box["id"], asset["id"]


def assign(main: httpx.Client, asset_id: str, peer_name: str) -> None:
    call(main, "POST", f"assets/{asset_id}/peer-nodes", {"peer_node": peer_name})


def run_and_wait(
    main: httpx.Client, asset_id: str, task: str, timeout_s: float = 120
) -> dict[str, Any]:
    job = call(main, "POST", f"assets/{asset_id}/execute", {"task": task})["jobs"][0]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        details: dict[str, Any] = call(main, "GET", f"jobs/{job['id']}")
        if details["state"] in FINISHED:
            return details
        time.sleep(0.3)
    raise DemoError(f"job {job['id']} did not finish within {timeout_s:.0f} s")


def wait_session(main: httpx.Client, session_id: str, timeout_s: float = 60) -> dict[str, Any]:
    """The session's details once it has ended and its recordings are in."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        details: dict[str, Any] = call(main, "GET", f"sessions/{session_id}")
        if details["state"] in ("completed", "failed"):
            return details
        time.sleep(0.3)
    raise DemoError(f"session {session_id} did not end within {timeout_s:.0f} s")


def typescript(main: httpx.Client, session_id: str) -> str:
    response = main.get(f"sessions/{session_id}/recording", params={"kind": "typescript"})
    if response.is_error:
        raise DemoError(f"typescript of {session_id}: HTTP {response.status_code} {response.text}")
    return response.text
