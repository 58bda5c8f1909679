"""The fault matrix: a delegated job meets a fault mid-run, over real processes.

| fault (mid-job)                        | the job ends as                                  |
|----------------------------------------|--------------------------------------------------|
| peer killed (SIGKILL) and left down    | failed `peer_lost` by timeout + follow grace     |
| peer killed and restarted at once      | failed `interrupted` (the peer lost the credential)|
| main killed (SIGKILL) and restarted    | succeeded: the main follows the job on the peer  |
| main <-> peer link down, left down     | failed `peer_lost` by timeout + follow grace     |
| main <-> peer link down, then back up  | succeeded with the peer's signature              |
| peer answering garbage                 | see test_peer_answers.py                         |

For every row: the job ends no later than its timeout plus the follow grace (plus the
machine's slack), its script ran exactly once (a marker line on the target), every attempt is
closed, and no request of the test got a 5xx. Runs on SQLite and PostgreSQL (the main's
database); the link rows put the peer in a network namespace of its own behind a veth.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from pamnode.lab.netns import Netns, link
from pamnode.lab.node_process import NodeProcess
from pamnode.lab.sshd import SshServer
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.support.assets import add_asset
from tests.support.identity import create_tenant, expect
from tests.support.jobs import ssh_host, start_jobs, wait_job
from tests.support.peers import add_peer, establish_trust, prepare_peer_site

# Both backends: a job's recovery after a fault is read back from the database.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

GRACE_S = 4
TIMEOUT_S = 12
# Time the machine may take beyond the rule (process starts, polling of this test).
SLACK_S = 10
SCENARIOS = ("peer-killed", "peer-restarted", "main-killed", "link-down", "link-flap")
FAR_MAIN_ADDR, FAR_PEER_ADDR = "10.77.9.1", "10.77.9.2"


class FarPeer:
    """A peer in a namespace of its own, reached by the main over one veth that can be cut."""

    def __init__(self, root: Path) -> None:
        self.ns = Netns()
        self.sshd = SshServer("127.0.0.1", 22, netns=self.ns.name)
        self.node = NodeProcess(root / "far", "far", netns=self.ns.name, address=FAR_PEER_ADDR)
        self.root_if = ""

    def start(self) -> None:
        self.ns.create()
        try:
            self.root_if, _ = link(None, FAR_MAIN_ADDR, self.ns, FAR_PEER_ADDR)
            self.sshd.start()
            self.node.start(admin=(ADMIN_LOGIN, ADMIN_PASSWORD))
        except Exception:
            # Nothing else would: a namespace left holding FAR_MAIN_ADDR breaks the next run.
            self.stop()
            raise

    def set_link(self, up: bool) -> None:
        state = "up" if up else "down"
        subprocess.run(["ip", "link", "set", self.root_if, state], check=True, timeout=30)

    def stop(self) -> None:
        self.node.stop()
        self.sshd.stop()
        self.ns.delete()


@pytest.fixture(scope="module")
def world(node_factory, sshd, tmp_path_factory) -> Iterator[dict]:
    main = node_factory("main", env={"PAMNODE_PEER_FOLLOW_GRACE_S": str(GRACE_S)})
    near = node_factory("near")
    far = FarPeer(tmp_path_factory.mktemp("far"))
    far.start()
    try:
        admin = create_tenant(main, "corp")
        with main.client("corp", token=admin) as client:
            for name, peer, address in (("near", near, None), ("far", far.node, FAR_PEER_ADDR)):
                jwt = prepare_peer_site(peer, "remote")
                created = add_peer(client, name, peer, "remote", jwt, peer_address=address)
                establish_trust(client, created["id"])
            assets = {}
            for name, target in (("near", sshd), ("far", far.sshd)):
                box = add_asset(client, f"dc-{name}", "container")
                body = {"peer_node": name}
                expect(client.post(f"assets/{box['id']}/peer-nodes", json=body), 201)
                for scenario in SCENARIOS:
                    asset = ssh_host(client, target, f"{scenario}-{name}", box["id"])
                    assets[scenario, name] = asset["id"]
            for scenario in SCENARIOS:
                script = f"echo ran >> ~/{scenario}.log; sleep 5; echo done"
                body = {"name": scenario, "type": "shell", "body": script}
                expect(client.post("scripts", json=body), 201)
        yield {
            "main": main,
            "near": near,
            "far": far,
            "admin": admin,
            "assets": assets,
            "homes": {"near": sshd.home, "far": far.sshd.home},
        }
    finally:
        far.stop()


def _watched_client(world: dict, server_errors: list[str]) -> httpx.Client:
    client = world["main"].client("corp", token=world["admin"])

    def note(response: httpx.Response) -> None:
        if response.status_code >= 500:
            server_errors.append(
                f"{response.request.method} {response.url}: {response.status_code}"
            )

    client.event_hooks["response"].append(note)
    return client


def _wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still not so after {timeout} s"
        time.sleep(0.1)


def _fault(world: dict, scenario: str) -> Callable[[], None]:
    """Apply the scenario's fault; return what puts things back afterwards."""
    main, near, far = world["main"], world["near"], world["far"]
    if scenario == "peer-killed":
        near.kill()
        return near.start
    if scenario == "peer-restarted":
        near.kill()
        near.start()
        return lambda: None
    if scenario == "main-killed":
        main.kill()
        main.start()
        return lambda: None
    far.set_link(up=False)
    if scenario == "link-flap":
        time.sleep(8)  # the script ends on the peer while the main cannot see it
        far.set_link(up=True)
        return lambda: None
    return lambda: far.set_link(up=True)


# state, error code, the attempt's outcome, what the error says
EXPECTED = {
    "peer-killed": ("failed", "peer_lost", "lost", "lost contact with peer node 'near'"),
    "peer-restarted": ("failed", "interrupted", "ran", "interrupted by restart"),
    "main-killed": ("succeeded", "", "ran", ""),
    "link-down": ("failed", "peer_lost", "lost", "lost contact with peer node 'far'"),
    "link-flap": ("succeeded", "", "ran", ""),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fault_mid_job(world, scenario):
    peer = "far" if scenario.startswith("link") else "near"
    marks = world["homes"][peer] / f"{scenario}.log"
    marks.unlink(missing_ok=True)
    server_errors: list[str] = []
    with _watched_client(world, server_errors) as client:
        asset_id = world["assets"][scenario, peer]
        (job,) = start_jobs(client, asset_id, task="script", script=scenario, timeout_s=TIMEOUT_S)
    _wait_for(marks.exists)
    restore = _fault(world, scenario)
    try:
        with _watched_client(world, server_errors) as client:
            done = wait_job(client, job["id"], timeout=TIMEOUT_S + GRACE_S + 60)
    finally:
        restore()

    state, code, outcome, error = EXPECTED[scenario]
    assert (done["state"], done["error_code"]) == (state, code), done
    assert error in done["error"]
    if state == "succeeded":
        assert done["node_signature"] == f"{peer}::remote::root"
        assert "done" in done["output"]
    assert [(a["peer_node"], a["outcome"]) for a in done["attempts"]] == [(peer, outcome)]
    assert all(a["finished_at"] for a in done["attempts"]), done["attempts"]
    took = _at(done["finished_at"]) - _at(done["created_at"])
    assert took <= TIMEOUT_S + GRACE_S + SLACK_S, took
    assert marks.read_text().count("ran") == 1
    assert server_errors == []


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()
