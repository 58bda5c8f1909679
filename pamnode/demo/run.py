"""`pamnode demo`: a main node, a peer node and an SSH endpoint only the peer can reach: a job
and a remote SSH session through the peer (its job runner, then its gateway).

As root with `ip` available, each lives in a network namespace of its own (main <-> peer <->
datacenter), so the main node really cannot reach the endpoint; otherwise all three share
the loopback interface and only the assignment decides where the job runs.
"""

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pamnode.demo import walkthrough as w
from pamnode.lab.netns import ThreeZones, three_zone_topology
from pamnode.lab.node_process import NodeProcess
from pamnode.lab.ports import free_port
from pamnode.lab.sshd import SshServer
from pamnode.lab.tunnel_client import run_command

PEER_TENANT, MAIN_TENANT = "proxm-27", "corp"
PEER_NODE_NAME, MAIN_NODE_NAME = "12P-remotePeer-dev", "main-node"
GATEWAY_PORT = 4822
# Typed in the demo's session: where the shell that answers runs.
SESSION_COMMAND = "hostname; hostname -I"


@dataclass
class Layout:
    zones: ThreeZones | None
    sshd: SshServer
    main: NodeProcess
    peer: NodeProcess
    # Where the main node reaches the peer, and the peer's gateway front.
    peer_address: str
    gateway_address: str


@contextlib.contextmanager
def _layout(workdir: Path, isolated: bool) -> Iterator[Layout]:
    zones = three_zone_topology() if isolated else None
    try:
        if zones is not None:
            sshd = SshServer(zones.datacenter_addr, 22, netns=zones.datacenter.name)
            main = NodeProcess(
                workdir / "main",
                MAIN_NODE_NAME,
                netns=zones.main.name,
                address=zones.admin_main_addr,
            )
            peer = NodeProcess(
                workdir / "peer",
                PEER_NODE_NAME,
                netns=zones.peer.name,
                address=zones.admin_peer_addr,
                env={"PAMNODE_GATEWAY_PORT": str(GATEWAY_PORT)},
            )
            peer_address = zones.peer_main_addr
            gateway_port = GATEWAY_PORT
        else:
            sshd = SshServer("127.0.0.1", free_port())
            main = NodeProcess(workdir / "main", MAIN_NODE_NAME)
            gateway_port = free_port()
            peer = NodeProcess(
                workdir / "peer",
                PEER_NODE_NAME,
                env={"PAMNODE_GATEWAY_PORT": str(gateway_port)},
            )
            peer_address = "127.0.0.1"
        layout = Layout(zones, sshd, main, peer, peer_address, f"{peer_address}:{gateway_port}")
        try:
            yield layout
        finally:
            for node in (main, peer):
                node.stop()
            sshd.stop()
    finally:
        if zones is not None:
            zones.delete()


def can_isolate() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


@dataclass(frozen=True)
class DemoResult:
    # As Reports > Jobs and Reports > Sessions show them.
    job: dict[str, Any]
    session: dict[str, Any]
    typescript: str


def run_demo(workdir: Path, isolated: bool, say: Callable[[str], None]) -> DemoResult:
    """Walk the seed end to end: a job, then an SSH session, both through the peer."""
    password = secrets.token_urlsafe(16)
    with _layout(workdir, isolated) as lab:
        lab.sshd.start()
        say(
            f"SSH endpoint {lab.sshd.address}:{lab.sshd.port} "
            + ("(datacenter namespace: only the peer can reach it)" if isolated else "(loopback)")
        )
        for node in (lab.main, lab.peer):
            node.start()
            result = node.init_admin("admin", password)
            if result.returncode != 0:
                raise w.DemoError(f"init on {node.name}: {result.stderr}")
            say(f"node {node.name} serving on {node.base_url}")

        with lab.peer.client("base") as base:
            w.login(base, "admin", password)
            w.create_tenant(base, PEER_TENANT, "peer-admin", password)
        with lab.peer.client(PEER_TENANT) as peer:
            w.login(peer, "peer-admin", password)
            jwt = w.configure_peer(peer, "svc-main", password)
        say(f"Step 1 on the peer: Service user svc-main and its API token in {PEER_TENANT}/root")

        with lab.main.client("base") as base:
            w.login(base, "admin", password)
            w.create_tenant(base, MAIN_TENANT, "main-admin", password)
        with lab.main.client(MAIN_TENANT) as main:
            w.login(main, "main-admin", password)
            peer_url = f"https://{lab.peer_address}:{lab.peer.port}/ztna/{PEER_TENANT}/root"
            report = w.configure_main(main, "remote", peer_url, jwt, lab.gateway_address)
            say(
                "Step 2 on the main: peer 'remote' (job runner and gateway "
                f"{lab.gateway_address}) trusted; Test Connection answered by "
                f"{report['node']}::{report['tenant']}::{report['site']} "
                f"in {report['latency_ms']} ms"
            )
            box, asset = w.add_host(
                main,
                "datacenter",
                "db-1",
                lab.sshd.address,
                lab.sshd.port,
                lab.sshd.user,
                lab.sshd.password,
            )
            if isolated:
                direct = w.run_and_wait(main, asset, "unix-status-check")
                say(f"Unix Status Check from the main node: {direct['state']} ({direct['error']})")
            w.assign(main, box, "remote")
            say("Manage > Peer Nodes: 'remote' assigned to container 'datacenter'")
            job = w.run_and_wait(main, asset, "unix-status-check")
            if job["state"] != "succeeded":
                raise w.DemoError(f"the job through the peer {job['state']}: {job['error']}")
            say(f"Unix Status Check through the peer: {job['state']}")

            opened = w.call(main, "POST", f"assets/{asset}/sessions")
            token = main.headers["Authorization"].removeprefix("Bearer ")
            seen = run_command(lab.main, token, opened["tunnel"], SESSION_COMMAND)
            if seen.errors:
                raise w.DemoError(f"the session was refused: {seen.errors[0][0]}")
            say(f"Access on db-1: typed '{SESSION_COMMAND}' in an SSH session, then Disconnect")
            session = w.wait_session(main, opened["id"])
            if session["state"] != "completed":
                raise w.DemoError(
                    f"the session through the peer {session['state']}: {session['error']}"
                )
            return DemoResult(job, session, w.typescript(main, opened["id"]))
