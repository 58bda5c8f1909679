"""The audit trail's hash chain on both databases: rows written at once by many transactions
(on PostgreSQL through two engines, as two mains sharing it) form one unbroken chain, and
`verify_chain` names the first row edited, removed or slipped in; recordings are checked
against the SHA-256 their session kept."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from pamnode.app.retention import sweep
from pamnode.audit.actions import AuditAction
from pamnode.audit.service import AuditScope, record
from pamnode.audit.verify import verify_chain
from pamnode.db.base import utcnow
from pamnode.db.engine import make_engine, make_sessionmaker
from pamnode.sessions import lifecycle
from pamnode.sessions.recording_check import verify_recordings
from pamnode.sessions.states import End, SessionState
from tests.service.conftest import InProcessNode

SCOPE = AuditScope("corp", "root", "tadmin", "127.0.0.1")
WRITERS = 12
ROWS_EACH = 5


@pytest.fixture
def node(node_on_each_database: InProcessNode) -> InProcessNode:
    return node_on_each_database


async def _verify(node):
    async with node.state.database() as db:
        return await verify_chain(db)


async def _sql(node, statement: str, **params) -> list:
    async with node.state.database.begin() as db:
        result = await db.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


async def test_rows_written_at_once_by_many_transactions_form_one_chain(node):
    # A second engine on the same database: what another main sharing it would use.
    other = make_engine(node.state.settings.resolved_database_url, 8, 30.0)
    makers = [node.state.database, make_sessionmaker(other)]

    async def write(number: int) -> None:
        async with makers[number % 2].begin() as db:
            for row in range(ROWS_EACH):
                record(db, SCOPE, AuditAction.SCRIPT_CREATE, f"w{number}-{row}", n=row)
            # Held open a moment: the others queue on the chain's head meanwhile.
            await asyncio.sleep(0.01)

    try:
        await asyncio.gather(*(write(number) for number in range(WRITERS)))
    finally:
        await other.dispose()
    report = await _verify(node)
    assert report.broken is None, report.broken
    places = await _sql(node, "SELECT chain_seq FROM audit_events ORDER BY chain_seq")
    assert [seq for (seq,) in places] == list(range(1, len(places) + 1))
    assert report.linked == len(places) >= WRITERS * ROWS_EACH
    # A transaction's rows stay together, in the order they were recorded.
    targets = await _sql(
        node, "SELECT target FROM audit_events WHERE action = 'script.create' ORDER BY chain_seq"
    )
    for start in range(0, len(targets), ROWS_EACH):
        group = [target for (target,) in targets[start : start + ROWS_EACH]]
        writer = group[0].split("-")[0]
        assert group == [f"{writer}-{row}" for row in range(ROWS_EACH)]


async def test_a_rolled_back_transaction_leaves_no_gap(node):
    await node.tenant("corp")
    with pytest.raises(RuntimeError):
        async with node.state.database.begin() as db:
            record(db, SCOPE, AuditAction.SCRIPT_CREATE, "never")
            raise RuntimeError("rolled back")
    async with node.state.database.begin() as db:
        record(db, SCOPE, AuditAction.SCRIPT_CREATE, "kept")
    report = await _verify(node)
    assert report.broken is None, report.broken
    assert not await _sql(node, "SELECT id FROM audit_events WHERE target = 'never'")


async def test_an_edited_byte_a_removed_row_and_a_removed_tail_are_each_named(node):
    await node.tenant("corp")
    for number in range(4):
        async with node.state.database.begin() as db:
            record(db, SCOPE, AuditAction.SCRIPT_CREATE, f"script-{number}")
    rows = await _sql(
        node, "SELECT id, target FROM audit_events WHERE target LIKE 'script-%' ORDER BY id"
    )
    first_id = rows[0][0]

    # One byte of one field: the row is named, with what differs.
    await _sql(node, "UPDATE audit_events SET target = 'scripT-0' WHERE id = :id", id=first_id)
    broken = (await _verify(node)).broken
    assert broken is not None and broken.row_id == first_id
    assert "fields do not match its hash" in broken.problem
    assert f"row {first_id} (" in broken.described()
    await _sql(node, "UPDATE audit_events SET target = 'script-0' WHERE id = :id", id=first_id)
    assert (await _verify(node)).broken is None

    # A row removed from the middle: the row after it is named.
    await _sql(node, "DELETE FROM audit_events WHERE id = :id", id=rows[1][0])
    broken = (await _verify(node)).broken
    assert broken is not None and broken.row_id == rows[2][0]
    assert "missing" in broken.problem


async def test_a_removed_last_row_and_a_row_slipped_in_are_named(node):
    await node.tenant("corp")
    last = (await _sql(node, "SELECT max(id) FROM audit_events"))[0][0]
    await _sql(node, "DELETE FROM audit_events WHERE id = :id", id=last)
    broken = (await _verify(node)).broken
    assert broken is not None and "last 1 row(s) are missing" in broken.problem

    # The head moved back too (what someone hiding the last row would do): intact again.
    await _sql(
        node,
        "UPDATE audit_chain_head SET seq = seq - 1, hash = "
        "(SELECT row_hash FROM audit_events WHERE chain_seq = "
        "(SELECT max(chain_seq) FROM audit_events))",
    )
    assert (await _verify(node)).broken is None
    await _sql(
        node,
        "INSERT INTO audit_events (at, tenant, site, actor, action, target, outcome, source,"
        " details) VALUES (CURRENT_TIMESTAMP, 'corp', 'root', 'mallory', 'user.create', 'x',"
        " 'success', '', '{}')",
    )
    slipped = (await _sql(node, "SELECT max(id) FROM audit_events"))[0][0]
    broken = (await _verify(node)).broken
    assert broken is not None and broken.row_id == slipped
    assert "no place in the chain" in broken.problem


async def test_an_edited_recording_is_named_with_its_session(node, tmp_path):
    token = await node.tenant("corp")
    async with node.as_("corp", token) as client:
        body = {"name": "web", "type": "unix-host", "properties": {"host": "10.0.0.7"}}
        host = await client.post("assets", json=body)
        opened = await client.post(f"assets/{host.json()['id']}/sessions")
        assert opened.status_code == 201, opened.text
    session_id = opened.json()["id"]
    recordings_dir = node.state.remote_sessions.recordings_dir
    directory = recordings_dir / session_id
    directory.mkdir()
    (directory / "typescript").write_bytes(b"$ systemctl stop db\r\n")
    how = End(SessionState.COMPLETED, recordings=["typescript"])
    await lifecycle.ended(node.state.database, SCOPE, session_id, how, directory)

    async with node.state.database() as db:
        report = await verify_recordings(db, recordings_dir)
    assert (report.matched, report.problems) == (1, [])
    # The hash is in the session.end row too, so the chain covers it.
    (details,) = await _sql(node, "SELECT details FROM audit_events WHERE action = 'session.end'")
    assert "typescript" in str(details[0])

    (directory / "typescript").write_bytes(b"$ systemctl start db\r\n")
    async with node.state.database() as db:
        report = await verify_recordings(db, recordings_dir)
    (problem,) = report.problems
    assert (problem.session_id, problem.kind) == (session_id, "typescript")
    assert "edited" in problem.problem


async def test_retention_removes_old_job_output_once_with_two_mains_sweeping(node):
    token = await node.tenant("corp")
    async with node.as_("corp", token) as client:
        body = {
            "name": "web-1",
            "type": "unix-host",
            "properties": {"host": "10.1.2.3", "port": 22},
            "secrets": {"username": "ops", "password": "Vault-Secret-1"},
        }
        host = (await client.post("assets", json=body)).json()["id"]
        jobs = []
        for _ in range(2):
            run = await client.post(f"assets/{host}/execute", json={"task": "unix-status-check"})
            assert run.status_code == 202, run.text
            jobs.append(run.json()["jobs"][0]["id"])
        for job_id in jobs:
            for _ in range(200):
                if (await client.get(f"jobs/{job_id}")).json()["finished_at"]:
                    break
                await asyncio.sleep(0.05)
        old, recent = jobs
        await _sql(
            node,
            "UPDATE jobs SET finished_at = :at, output = 'secret-ish output' WHERE id = :id",
            at=utcnow() - timedelta(days=10),
            id=old,
        )
        patched = await client.patch("site-settings", json={"job_output_retention_days": 7})
        assert patched.status_code == 200, patched.text

    # Two mains sweep at once (a second engine, as another main sharing the database).
    other = make_engine(node.state.settings.resolved_database_url, 4, 30.0)
    recordings_dir = node.state.remote_sessions.recordings_dir
    try:
        removed = await asyncio.gather(
            sweep(node.state.database, recordings_dir, "main-a"),
            sweep(make_sessionmaker(other), recordings_dir, "main-b"),
        )
    finally:
        await other.dispose()
    assert sorted(removed) == [0, 1]

    async with node.as_("corp", token) as client:
        gone = (await client.get(f"jobs/{old}")).json()
        kept = (await client.get(f"jobs/{recent}")).json()
    assert (gone["output"], gone["output_removed_at"] is not None) == ("", True)
    assert kept["output_removed_at"] is None
    (audit,) = await _sql(
        node, "SELECT actor, target, details FROM audit_events WHERE action = 'retention.remove'"
    )
    details = audit[2] if isinstance(audit[2], dict) else json.loads(audit[2])
    assert (audit[0], audit[1], details["count"], details["ids"]) == (
        "retention",
        "job output",
        1,
        [old],
    )
    assert (await _verify(node)).broken is None
