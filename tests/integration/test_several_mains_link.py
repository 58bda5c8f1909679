"""Several mains and a peer that dials: two real mains on one PostgreSQL database, sharing
nothing else (each its own data directory, the key ring sealed in the database under one KEK),
and one real peer in `peer_dials` mode enrolled at main-a. Over its link to main-a the peer is
told of main-b and links to it too; main-a killed with SIGKILL, new jobs and new gateway
sessions through the peer go on through main-b (docs/peers.md, "Several mains")."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pamnode.lab.node_process import NodeProcess
from pamnode.lab.ports import free_port
from pamnode.lab.tunnel_client import run_command
from tests.support.assets import add_asset
from tests.support.identity import PASSWORD, create_tenant, expect
from tests.support.jobs import run_jobs, ssh_host
from tests.support.peers import (
    UNREACHABLE,
    add_dialling_peer,
    enrol_at_main,
    establish_trust,
    prepare_peer_site,
    wait_link,
)
from tests.support.sessions import open_session, typescript, wait_session

pytestmark = pytest.mark.databases("postgresql")

PEER_TENANT = "far-28"
KEK = base64.b64encode(os.urandom(32)).decode()
ADVERTISED = "PAMNODE_LINK_ADVERTISED_URL"
# Once main-a is killed, a job asked of main-b ends within this long.
BOUND_S = 30


@dataclass
class World:
    a: NodeProcess
    b: NodeProcess
    peer: NodeProcess
    admin: str
    peer_id: str
    host: str


@pytest.fixture(scope="module")
def world(node_factory, sshd, tmp_path_factory) -> Iterator[World]:
    env = {"PAMNODE_KEK": KEK, "PAMNODE_DB_POOL_SIZE": "8"}
    a = node_factory("main-a", env=env)
    # Where peers reach it: known once its port is, so given from its second start on.
    a.stop()
    a.extra_env[ADVERTISED] = a.base_url
    a.start()
    b = NodeProcess(tmp_path_factory.mktemp("main-b") / "data", "main-b", a.database_url, env=env)
    b.extra_env[ADVERTISED] = b.base_url
    b.start()
    # With its gateway: sessions, too, reach it only through a main's link.
    peer_env = {"PAMNODE_LINK_BACKOFF_CAP_S": "2", "PAMNODE_GATEWAY_PORT": str(free_port())}
    peer = node_factory("peer-nat", env=peer_env)
    try:
        jwt = prepare_peer_site(peer, PEER_TENANT)
        admin = create_tenant(a, "corp")
        with a.client("corp", token=admin) as on_a:
            gateway = {"gateway": True, "gateway_address": f"{UNREACHABLE}:4822"}
            created = add_dialling_peer(on_a, "nat", peer, PEER_TENANT, jwt, **gateway)
            issued = expect(on_a.post(f"peer-nodes/{created['id']}/enrolment-code"), 200)
        peer_admin = peer.login(PEER_TENANT, "root", "tadmin", PASSWORD)
        with peer.client(PEER_TENANT, token=peer_admin) as on_peer:
            expect(
                enrol_at_main(on_peer, a.base_url, "corp", issued["code"], issued["main_sha256"]),
                201,
            )
        with a.client("corp", token=admin) as on_a:
            wait_link(on_a, created["id"], connected=True)
            establish_trust(on_a, created["id"])
            establish_trust(on_a, created["id"], "gateway")
            box = add_asset(on_a, "behind-nat", "container")
            host = ssh_host(on_a, sshd, "nat-web-1", box["id"])
            expect(on_a.post(f"assets/{box['id']}/peer-nodes", json={"peer_node": "nat"}), 201)
        yield World(a, b, peer, admin, created["id"], host["id"])
    finally:
        b.stop()


def test_the_peer_learns_of_the_other_main_and_links_to_it(world):
    """Enrolled at main-a only, the peer is linked to main-b too; each main runs jobs through
    its own link."""
    with world.b.client("corp", token=world.admin) as on_b:
        shown = wait_link(on_b, world.peer_id, connected=True, timeout=60)
        assert shown["link"]["key_sha256"] and shown["link"]["peer_version"]
    for main in (world.a, world.b):
        with main.client("corp", token=world.admin) as client:
            (job,) = run_jobs(client, world.host)
        assert job["state"] == "succeeded", job
        assert job["node_signature"] == f"peer-nat::{PEER_TENANT}::root"
        assert [(a["peer_node"], a["outcome"]) for a in job["attempts"]] == [("nat", "ran")]


def test_jobs_and_sessions_go_on_through_the_other_main_when_one_is_killed(world):
    with world.b.client("corp", token=world.admin) as on_b:
        wait_link(on_b, world.peer_id, connected=True, timeout=60)
        world.a.kill()
        killed = time.monotonic()
        (job,) = run_jobs(on_b, world.host)
        took = time.monotonic() - killed
        # main-b's own link never depended on main-a.
        assert expect(on_b.get(f"peer-nodes/{world.peer_id}"), 200)["link"]["connected"]
        opened = open_session(on_b, world.host)
        seen = run_command(world.b, world.admin, opened["tunnel"], "echo after-$((6*7))")
        done = wait_session(on_b, opened["id"], {"completed", "failed"})
        # The recording is fetched from the peer over main-b's link as well.
        recorded = typescript(on_b, opened["id"])
    assert not seen.errors and seen.opcodes["sync"] > 0
    assert done["state"] == "completed", done
    assert (done["peer_node"], done["node_signature"]) == ("nat", f"peer-nat::{PEER_TENANT}::root")
    assert "after-42" in recorded
    assert job["state"] == "succeeded", job
    assert (job["claimed_by"], job["node_signature"]) == (
        "main-b",
        f"peer-nat::{PEER_TENANT}::root",
    )
    assert took < BOUND_S, f"the job took {took:.1f} s after main-a was killed"
