"""The seed's steps, done through the public REST API exactly as an administrator would."""

import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx


class DemoError(Exception):
    """A step of the walkthrough was refused; the message says which and why."""


@dataclass
class Site:
    """A logged-in administrator's view of one site of a node."""

    base_url: str
    tenant: str
    site: str
    cert: Path
    token: str = ""

    @property
    def url(self) -> str:
        return f"{self.base_url}/ztna/{self.tenant}/{self.site}"

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = httpx.request(
            method,
            f"{self.url}/api/{path}",
            json=body,
            headers=headers,
            timeout=timeout,
            verify=ssl.create_default_context(cafile=str(self.cert)),
        )
        if response.is_error:
            raise DemoError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def login(self, login: str, password: str) -> "Site":
        self.token = self.call("POST", "auth/login", {"login": login, "password": password})[
            "token"
        ]
        return self


def create_tenant(base: Site, tenant: str, admin: str, password: str) -> Site:
    base.call("POST", "tenants", {"name": tenant, "admin_login": admin, "admin_password": password})
    return Site(base.base_url, tenant, "root", base.cert).login(admin, password)


def configure_peer(peer: Site, service_user: str, password: str) -> str:
    """Step 1 on the peer: a Service user and its API token; return the unlocked JWT."""
    peer.call(
        "POST",
        "users",
        {"login": service_user, "password": password, "first_name": "Main", "last_name": "Node"},
    )
    peer.call("POST", "site-roles", {"principal": service_user, "role": "service"})
    expires = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    token = peer.call(
        "POST",
        "api-tokens",
        {"user": service_user, "expires_at": expires, "description": "main node", "enabled": True},
    )
    jwt: str = peer.call("POST", f"api-tokens/{token['id']}/unlock")["jwt"]
    peer.call("POST", f"api-tokens/{token['id']}/lock")
    return jwt


def configure_main(main: Site, peer_name: str, peer_url: str, jwt: str) -> dict[str, Any]:
    """Step 2 on the main: add the peer, verify and establish trust, test the connection."""
    peer = main.call(
        "POST",
        "peer-nodes",
        {
            "name": peer_name,
            "job_runner": True,
            "url": peer_url,
            "access_token": jwt,
            "enabled": True,
        },
    )
    shown = main.call("POST", f"peer-nodes/{peer['id']}/verify-trust", {"component": "job-runner"})
    main.call(
        "POST",
        f"peer-nodes/{peer['id']}/establish-trust",
        {"component": "job-runner", "sha256": shown["sha256"]},
    )
    report: dict[str, Any] = main.call("POST", f"peer-nodes/{peer['id']}/test-connection")
    if not report["ok"]:
        raise DemoError(f"Test Connection failed: {report['reason']}")
    return report


def add_host(
    main: Site, container: str, name: str, host: str, port: int, user: str, password: str
) -> tuple[str, str]:
    """A container with one Unix host in it; return (container id, asset id)."""
    box = main.call("POST", "assets", {"name": container, "type": "container"})
    asset = main.call(
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


def run_and_wait(main: Site, asset_id: str, task: str, timeout_s: float = 120) -> dict[str, Any]:
    job = main.call("POST", f"assets/{asset_id}/execute", {"task": task})["jobs"][0]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        details: dict[str, Any] = main.call("GET", f"jobs/{job['id']}")
        if details["state"] in {"succeeded", "failed", "cancelled", "timed_out"}:
            return details
        time.sleep(0.3)
    raise DemoError(f"job {job['id']} did not finish within {timeout_s:.0f} s")
