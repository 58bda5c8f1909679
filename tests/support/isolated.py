"""The three-zone lab of the end-to-end tests: main <-> peer <-> datacenter, a real sshd in the
datacenter, both nodes started with their first administrator."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from pamnode.lab.netns import ThreeZones, three_zone_topology
from pamnode.lab.node_process import NodeProcess
from pamnode.lab.sshd import SshServer
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.support.assets import add_asset

MAIN_NODE, PEER_NODE = "main-node", "12P-remotePeer-dev"


@dataclass(frozen=True)
class Isolated:
    zones: ThreeZones
    sshd: SshServer
    main: NodeProcess
    peer: NodeProcess


def datacenter_host(client: httpx.Client, lab: Isolated) -> tuple[dict, dict]:
    """A container "datacenter" holding "db-1", the datacenter's sshd with its password."""
    box = add_asset(client, "datacenter", "container")
    host = add_asset(
        client,
        "db-1",
        "unix-host",
        box["id"],
        properties={"host": lab.zones.datacenter_addr, "port": 22},
        secrets={"username": lab.sshd.user, "password": lab.sshd.password},
    )
    return box, host


@contextlib.contextmanager
def isolated_lab(
    workdir: Path,
    peer_env: dict[str, str] | None = None,
    main_env: dict[str, str] | None = None,
) -> Iterator[Isolated]:
    with three_zone_topology() as zones:
        sshd = SshServer(zones.datacenter_addr, 22, netns=zones.datacenter.name)
        main = NodeProcess(
            workdir / "main",
            MAIN_NODE,
            netns=zones.main.name,
            address=zones.admin_main_addr,
            env=main_env,
        )
        peer = NodeProcess(
            workdir / "peer",
            PEER_NODE,
            netns=zones.peer.name,
            address=zones.admin_peer_addr,
            env=peer_env,
        )
        try:
            sshd.start()
            for node in (main, peer):
                node.start(admin=(ADMIN_LOGIN, ADMIN_PASSWORD))
            yield Isolated(zones, sshd, main, peer)
        finally:
            for node in (main, peer):
                node.stop()
            sshd.stop()
