"""guacd lives and dies with its node: a node killed by SIGKILL takes its guacd with it, and a
node that starts ends the guacd a killed run of the same data directory left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pamnode.lab.node_process import NodeProcess
from pamnode.lab.ports import free_port
from pamnode.lab.tunnel_client import run_command
from pamnode.sessions.guacd import MARKER
from tests.support.identity import create_tenant
from tests.support.jobs import ssh_host
from tests.support.sessions import open_session, wait_session

GONE_WITHIN_S = 5.0


@pytest.fixture(scope="module")
def db_kind() -> str:
    # The subject is the node's processes, not its database.
    return "sqlite"


def _guacds_of(data_dir: Path) -> list[int]:
    """The guacd processes a node of `data_dir` started: they write to its guacd.log."""
    log = (data_dir / "logs" / "guacd.log").resolve()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv0 = (proc / "cmdline").read_bytes().split(b"\0", 1)[0]
            stdout = Path(os.readlink(proc / "fd" / "1"))
        except OSError:
            continue
        if Path(argv0.decode(errors="replace")).name == "guacd" and stdout == log:
            found.append(int(proc.name))
    return found


def _wait_gone(data_dir: Path) -> list[int]:
    deadline = time.monotonic() + GONE_WITHIN_S
    while (left := _guacds_of(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_killed_node_takes_its_guacd_with_it(node_factory, sshd):
    node = node_factory("killed")
    admin = create_tenant(node, "corp")
    with node.client("corp", token=admin) as client:
        host = ssh_host(client, sshd, "web")
        opened = open_session(client, host["id"])
        run_command(node, admin, opened["tunnel"], "true")
        wait_session(client, opened["id"], {"completed", "failed"})
    assert _guacds_of(node.data_dir), "the session did not start the node's guacd"

    node.kill()
    assert _wait_gone(node.data_dir) == []


def _leftover(data_dir: Path, binary: str, *args: str) -> subprocess.Popen[bytes]:
    """A process as a killed node would have left it: named in the pidfile, on its own."""
    proc = subprocess.Popen(
        [binary, *args],
        env={"PATH": os.defpath, MARKER: str(data_dir.resolve())},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    (data_dir / "guacd.pid").write_text(f"{proc.pid}\n")
    return proc


def test_a_starting_node_ends_the_guacd_its_last_run_left(node_factory):
    node: NodeProcess = node_factory("restarted")
    node.stop()
    guacd = shutil.which("guacd")
    assert guacd is not None
    left = _leftover(node.data_dir, guacd, "-f", "-b", "127.0.0.1", "-l", str(free_port()))
    try:
        time.sleep(0.5)
        assert left.poll() is None, "the stand-in leftover guacd did not start"
        node.start()
        assert left.wait(timeout=GONE_WITHIN_S) is not None
        assert not (node.data_dir / "guacd.pid").exists()
    finally:
        if left.poll() is None:
            left.kill()
            left.wait()


def test_a_pidfile_naming_another_process_kills_nothing(node_factory):
    node: NodeProcess = node_factory("stale-pidfile")
    node.stop()
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (node.data_dir / "guacd.pid").write_text(f"{sleeper.pid}\n")
        node.start()
        assert _alive(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
