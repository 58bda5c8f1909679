"""A main whose SSH proxy OpenSSH's clients log in to, with a peer whose HTTP proxy carries
the sessions of one of its two hosts (the integration modules of the SSH proxy share it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from pamnode.lab.openssh import OpenSshClient
from pamnode.lab.ports import free_port
from tests.support.assets import add_asset
from tests.support.identity import PASSWORD, add_user, create_tenant, expect
from tests.support.jobs import ssh_host
from tests.support.peers import add_trusted_peer, prepare_peer_site

PEER_TENANT = "dc-west"


def proxy_lab(node_factory, sshd, workdir: Path, **main_env: str) -> dict[str, Any]:
    """Tenant corp on the main: `local-web` reached from the main, `remote-web` through peer
    node `west`; viewer-1 may only view local-web."""
    ssh_port, proxy_port = free_port(), free_port()
    main = node_factory("main", env={"PAMNODE_SSH_PROXY_PORT": str(ssh_port), **main_env})
    peer = node_factory("peer-west", env={"PAMNODE_HTTP_PROXY_PORT": str(proxy_port)})
    jwt = prepare_peer_site(peer, PEER_TENANT)
    admin = create_tenant(main, "corp")
    with main.client("corp", token=admin) as client:
        add_trusted_peer(
            client,
            "west",
            peer,
            PEER_TENANT,
            jwt,
            "http-proxy",
            http_proxy=True,
            http_proxy_address=f"127.0.0.1:{proxy_port}",
        )
        local = ssh_host(client, sshd, "local-web")
        remote = ssh_host(client, sshd, "remote-web")
        body = {"peer_node": "west", "enabled": True}
        expect(client.post(f"assets/{remote['id']}/peer-nodes", json=body), 201)
        add_user(client, "viewer-1")
        body = {"principal": "viewer-1", "role": "viewer"}
        expect(client.post(f"assets/{local['id']}/permissions", json=body), 201)
    ssh = OpenSshClient("127.0.0.1", ssh_port, PASSWORD, workdir)
    ssh.pin(main.data_dir / "ssh_proxy_host_key")
    return {"main": main, "peer": peer, "admin": admin, "ssh": ssh, "proxy_port": proxy_port}


def newest_open(api: httpx.Client) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        page = expect(api.get("sessions", params={"state": "active"}), 200)
        if page["sessions"]:
            return dict(page["sessions"][0])
        time.sleep(0.2)
    raise AssertionError("no active session")


def rdp_offer_through_west(api: httpx.Client, name: str, port: int) -> dict[str, Any]:
    """An RDP pass-through's one-time port to the RDP endpoint on `port`, routed through
    peer node `west`."""
    desk = add_asset(
        api,
        name,
        "windows-host",
        properties={"host": "127.0.0.1", "session_port": port},
        secrets={"username": "someone", "password": "unused-here"},
    )
    body = {"peer_node": "west", "enabled": True}
    expect(api.post(f"assets/{desk['id']}/peer-nodes", json=body), 201)
    return dict(expect(api.post(f"assets/{desk['id']}/rdp-proxy"), 201))
