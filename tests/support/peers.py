"""The seed's Step 1 (on the peer) and Step 2 (on the main) as test shortcuts."""

from __future__ import annotations

import hashlib
import ssl
import time
from typing import Any

import httpx

from pamnode.lab.served_node import ServedNode
from tests.support.identity import add_user, create_tenant, expect, issue_token


def cert_sha256(node: ServedNode) -> str:
    der = ssl.PEM_cert_to_DER_cert(node.cert_path.read_text())
    return hashlib.sha256(der).hexdigest().upper()


def prepare_peer_site(peer: ServedNode, tenant: str, service_user: str = "svc-main") -> str:
    """Step 1: a Service user and an API token on the peer; return the unlocked JWT."""
    admin = create_tenant(peer, tenant)
    with peer.client(tenant, token=admin) as client:
        add_user(client, service_user, "service")
        _, jwt = issue_token(client, service_user, description="main node")
    return jwt


def add_peer(
    main: httpx.Client,
    name: str,
    peer: ServedNode,
    tenant: str,
    token: str | None,
    peer_address: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Add `peer` to the main; `peer_address` is where the main reaches it, if not the same."""
    base = f"https://{peer_address}:{peer.port}" if peer_address else peer.base_url
    body = {
        "name": name,
        "job_runner": True,
        "url": f"{base}/ztna/{tenant}/root",
        "access_token": token,
        "enabled": True,
        **extra,
    }
    return expect(main.post("peer-nodes", json=body), 201)


def establish_trust(main: httpx.Client, peer_id: str, component: str = "job-runner") -> dict:
    shown = expect(
        main.post(f"peer-nodes/{peer_id}/verify-trust", json={"component": component}), 200
    )
    body = {"component": component, "sha256": shown["sha256"]}
    return expect(main.post(f"peer-nodes/{peer_id}/establish-trust", json=body), 200)


def add_trusted_peer(
    main: httpx.Client,
    name: str,
    peer: ServedNode,
    tenant: str,
    token: str,
    *components: str,
    peer_address: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Add `peer` and pin its job runner and each of `components` ("gateway", "http-proxy")."""
    created = add_peer(main, name, peer, tenant, token, peer_address, **extra)
    for component in ("job-runner", *components):
        establish_trust(main, created["id"], component)
    return created


def check_connection(main: httpx.Client, peer_id: str) -> dict[str, Any]:
    return expect(main.post(f"peer-nodes/{peer_id}/test-connection"), 200)


# A name that resolves nowhere: a peer that dials is reached only through its link.
UNREACHABLE = "peer-behind-nat.invalid"


def add_dialling_peer(
    main: httpx.Client, name: str, peer: ServedNode, tenant: str, token: str, **extra: Any
) -> dict[str, Any]:
    """A Peer Node in peer_dials mode, at an address the main could never reach."""
    return add_peer(
        main, name, peer, tenant, token, UNREACHABLE, connection_mode="peer_dials", **extra
    )


def enrol_at_main(
    peer_client: httpx.Client, main_origin: str, main_tenant: str, code: str, sha256: str
) -> httpx.Response:
    """On the peer: its site's enrolment at the main (at `main_origin`, https://host:port, as
    the peer reaches it), with the code the main showed."""
    body = {
        "main_url": f"{main_origin}/ztna/{main_tenant}/root",
        "code": code,
        "fingerprint": sha256,
    }
    return peer_client.post("main-link", json=body)


def wait_link(main: httpx.Client, peer_id: str, connected: bool, timeout: float = 30) -> dict:
    """The Peer Node once its link is (or is no longer) connected to this main."""
    deadline = time.monotonic() + timeout
    while True:
        shown = expect(main.get(f"peer-nodes/{peer_id}"), 200)
        if shown["link"]["connected"] is connected:
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"link of {peer_id} not connected={connected}: {shown['link']}")
        time.sleep(0.2)
