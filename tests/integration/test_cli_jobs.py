"""`pamnode asset execute … --wait` against a real node and a real sshd: a container's batch
followed by counting its jobs per state, a summary instead of a table when the batch is
larger than a screen, and Ctrl-C leaving the jobs to the node."""

from __future__ import annotations

import json
import re
import signal

import pytest

from pamnode.lab.ports import free_port
from tests.support.assets import add_asset
from tests.support.cli import cli_env, log_in, run_cli, start_cli
from tests.support.identity import PASSWORD, create_tenant, expect
from tests.support.jobs import ssh_host

FINISHED = {"succeeded", "failed", "cancelled", "timed_out"}
# Rich reads the terminal's height from LINES: 24 rows hold a table of a few jobs, not 30.
LINES = 24


@pytest.fixture(scope="module")
def shell(node_factory, tmp_path_factory):
    node = node_factory("cli-jobs")
    admin = create_tenant(node, "corp")
    home = tmp_path_factory.mktemp("cli-jobs")
    password_file = home / "pw"
    password_file.write_text(PASSWORD + "\n")
    env = cli_env(home / "config", lines=LINES)
    log_in(env, node, "corp", "tadmin", password_file)
    return node, admin, env


def closed_host(client, name: str, parent: str, port: int) -> None:
    add_asset(
        client,
        name,
        "unix-host",
        parent,
        properties={"host": "127.0.0.1", "port": port},
        secrets={"username": "nobody", "password": "nothing"},
    )


def batch_of(output: str) -> str:
    found = re.search(r"jobs list --batch (\S+?)[`\s]", output)
    assert found, output
    return found.group(1)


def test_a_large_batch_ends_with_a_summary(shell, sshd):
    node, admin, env = shell
    closed = free_port()
    with node.client("corp", token=admin) as client:
        fleet = add_asset(client, "fleet", "container")
        for index in range(27):
            ssh_host(client, sshd, f"fleet-ok-{index:02}", fleet["id"])
        for index in range(3):
            closed_host(client, f"fleet-closed-{index}", fleet["id"], closed)

    result = run_cli(env, "asset", "execute", "fleet", "unix-status-check", "--wait", check=False)
    out = result.stdout
    assert result.returncode == 1, f"{out}\n{result.stderr}"
    batch_id = batch_of(out)
    assert f"30 jobs of batch {batch_id}: succeeded 27 · failed 3" in out, out
    # The unsuccessful jobs by asset name and error code, not a row for each of the 30.
    failed = re.findall(r"^  (fleet-\S+) +failed +(\S+)", out, re.MULTILINE)
    assert sorted(failed) == [(f"fleet-closed-{i}", "network_unreachable") for i in range(3)], out
    assert "fleet-ok-" not in out
    assert f"pamnode jobs list --batch {batch_id} --state failed" in out

    # Followed through the batch listing, never job by job.
    with node.client("corp", token=admin) as client:
        page = expect(client.get("jobs", params={"batch_id": batch_id, "limit": 100}), 200)
    assert page["total"] == 30
    log = node.log_text()
    assert f"/api/jobs?batch_id={batch_id}&state=" in log
    assert not [job["id"] for job in page["jobs"] if f"/api/jobs/{job['id']}" in log]

    listed = run_cli(env, "jobs", "list", "--batch", batch_id, "--state", "failed").stdout
    assert sorted(re.findall(r"fleet-closed-\d", listed)) == [f"fleet-closed-{i}" for i in range(3)]
    assert "3 of 3 jobs" in listed
    paged = run_cli(env, "jobs", "list", "--batch", batch_id, "--limit", "10", "--offset", "10")
    assert "11 to 20 of 30 jobs" in paged.stdout, paged.stdout

    # Without --wait, a batch larger than a screen is a line, not a table, and how to follow it.
    started = run_cli(env, "asset", "execute", "fleet", "unix-status-check").stdout
    assert re.search(r"^30 jobs started in batch \S+$", started, re.MULTILINE), started
    assert f"--batch {batch_id}" not in started and batch_of(started)


def test_a_small_batch_keeps_its_table_and_one_job_its_details(shell, sshd):
    node, admin, env = shell
    with node.client("corp", token=admin) as client:
        rack = add_asset(client, "rack", "container")
        ssh_host(client, sshd, "rack-ok-1", rack["id"])
        ssh_host(client, sshd, "rack-ok-2", rack["id"])
        closed_host(client, "rack-closed", rack["id"], free_port())
        ssh_host(client, sshd, "solo")

    result = run_cli(env, "asset", "execute", "rack", "unix-status-check", "--wait", check=False)
    out = result.stdout
    assert result.returncode == 1, f"{out}\n{result.stderr}"
    # A row per job, as before, and the error code of the one that failed.
    assert re.search(r"failed\W+unix-status-check\W+rack-closed\W.*network_unreachable", out), out
    assert len(re.findall(r"succeeded\W+unix-status-check\W+rack-ok-\d\W", out)) == 2, out
    assert re.search(r"^3 jobs of batch \S+: succeeded 2 · failed 1$", out, re.MULTILINE), out

    single = run_cli(env, "asset", "execute", "solo", "unix-status-check", "--wait")
    assert re.search(r"succeeded\W+unix-status-check\W+solo\W", single.stdout), single.stdout
    # Its details follow as a table of fields, and with --json as the API's answer.
    assert re.search(r"node_signature\W+cli-jobs::corp::root\W", single.stdout), single.stdout
    scripted = run_cli(env, "asset", "execute", "solo", "unix-status-check", "--wait", "--json")
    (ended,) = json.loads(scripted.stdout)["jobs"]
    assert (ended["state"], ended["node_signature"]) == ("succeeded", "cli-jobs::corp::root")


def test_ctrl_c_leaves_the_jobs_running_on_the_node(shell, sshd):
    node, admin, env = shell
    with node.client("corp", token=admin) as client:
        body = {"name": "sleepy", "type": "shell", "body": "sleep 300"}
        expect(client.post("scripts", json=body), 201)
        slow = add_asset(client, "slow", "container")
        for index in range(2):
            ssh_host(client, sshd, f"slow-{index}", slow["id"])

    cli = start_cli(env, "asset", "execute", "slow", "script", "--script", "sleepy", "--wait")
    try:
        assert cli.stdout is not None
        # Without a terminal, the first look at the batch is a plain line of counts.
        first = cli.stdout.readline()
        assert re.match(r"0/2 finished · ", first), first
        cli.send_signal(signal.SIGINT)
        rest, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert cli.returncode == 130, f"{first}{rest}\n{err}"
    assert "the jobs continue on the node" in err
    batch_id = batch_of(err)

    with node.client("corp", token=admin) as client:
        page = expect(client.get("jobs", params={"batch_id": batch_id}), 200)
        assert page["total"] == 2
        assert not [job for job in page["jobs"] if job["state"] in FINISHED], page
        for job in page["jobs"]:
            expect(client.post(f"jobs/{job['id']}/cancel"), 200)
