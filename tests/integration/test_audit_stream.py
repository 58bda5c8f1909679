"""The audit trail streamed to a real rsyslog (Debian's rsyslogd, imtcp with octet-counted
frames, omfile): every row of a scripted flow arrives, in chain order; with rsyslog stopped a
while, the rows written meanwhile arrive once it is back, none twice, also across a restart
of the node. The JSON lines file gets the same rows."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from pamnode.lab.ports import free_port
from pamnode.lab.rsyslog import RsyslogServer
from tests.support.db import run_sql
from tests.support.identity import add_user, create_tenant, expect

SEQ = re.compile(r'^(\S+) \[pamnode@32473 seq="(\d+)" ')


@pytest.fixture(scope="module")
def rsyslog() -> Iterator[RsyslogServer]:
    with RsyslogServer("127.0.0.1", free_port()) as server:
        yield server


@pytest.fixture(scope="module")
def streamed(node_factory, rsyslog, tmp_path_factory):
    lines = tmp_path_factory.mktemp("siem") / "audit.jsonl"
    env = {
        "PAMNODE_AUDIT_SYSLOG": f"127.0.0.1:{rsyslog.port}",
        "PAMNODE_AUDIT_JSON_FILE": str(lines),
    }
    return node_factory("main", env=env), lines


def _received(rsyslog: RsyslogServer) -> list[tuple[int, str]]:
    """(seq, action) of each message rsyslog wrote, in the order it wrote them."""
    found = []
    for line in rsyslog.received():
        match = SEQ.match(line)
        assert match, line
        found.append((int(match.group(2)), match.group(1)))
    return found


def _written(node) -> list[tuple[int, str]]:
    rows = run_sql(node, "SELECT chain_seq, action FROM audit_events ORDER BY chain_seq")
    return [(seq, action) for seq, action in rows]


def _until_all_arrived(rsyslog: RsyslogServer, node, timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while True:
        written, received = _written(node), _received(rsyslog)
        if len(received) >= len(written) or time.monotonic() > deadline:
            return received
        time.sleep(0.3)


def _flow(node, tenant: str) -> None:
    admin = create_tenant(node, tenant)
    with node.client(tenant, token=admin) as client:
        add_user(client, "alice", "auditor")
        expect(client.post("sites", json={"name": "lab"}), 201)
        expect(client.patch("users/alice", json={"locked": True}), 200)
        # A refusal is a row too (written apart).
        assert client.get("peer-nodes", headers={"Authorization": "Bearer x"}).status_code == 401


def test_every_row_of_a_flow_arrives_in_order(streamed, rsyslog):
    node, lines = streamed
    _flow(node, "corp")
    received = _until_all_arrived(rsyslog, node)
    written = _written(node)
    assert received == written
    assert [seq for seq, _ in written] == list(range(1, len(written) + 1))
    assert {"tenant.create", "user.create", "site.create", "user.update"} <= {
        action for _, action in received
    }
    # The same rows in the JSON lines file, with their chain hashes.
    deadline = time.monotonic() + 10
    while True:
        jsonl = [json.loads(line) for line in lines.read_text().splitlines()]
        if len(jsonl) >= len(written) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [(row["seq"], row["action"]) for row in jsonl] == written
    assert all(len(row["hash"]) == 64 for row in jsonl)


def test_rows_written_while_rsyslog_is_down_arrive_once_it_is_back_none_twice(streamed, rsyslog):
    node, _ = streamed
    before = len(_until_all_arrived(rsyslog, node))
    rsyslog.halt()
    _flow(node, "acme")
    # Long enough for the node to try, fail and wait.
    time.sleep(3)
    assert len(_received(rsyslog)) == before
    rsyslog.start_again()
    received = _until_all_arrived(rsyslog, node)
    assert received == _written(node)
    assert len(received) > before

    # The node restarts: it resumes from its cursor, sending nothing again.
    node.restart()
    _flow(node, "initech")
    received = _until_all_arrived(rsyslog, node)
    assert received == _written(node)
    assert len({seq for seq, _ in received}) == len(received)
