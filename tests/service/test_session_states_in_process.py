"""A session's state is written by conditional updates, on both databases, so writers that
meet on one session cannot overwrite each other:

- a terminate and a tunnel's claim at the same moment: the session ends as terminated and no
  carrier starts it, whichever commits first;
- two ends: the first is kept (a failure is never replaced by `completed`), with one
  `session.end` audit event.

The recordings a session leaves on a lost peer are test_recording_retries_in_process.py's.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from pamnode.audit.models import AuditEvent
from pamnode.audit.service import AuditScope
from pamnode.sessions import lifecycle, states
from pamnode.sessions.report import TERMINATED
from pamnode.sessions.states import UNSTARTED, End, SessionState
from tests.service.conftest import InProcessNode
from tests.service.test_first_writers_in_process import _race

SCOPE = AuditScope("corp", "root", "tadmin", "127.0.0.1")
CARRIER = "main-b"


@pytest.fixture
def node(node_on_each_database: InProcessNode) -> InProcessNode:
    return node_on_each_database


async def _pending(node, token: str | None = None, host: str = "web") -> tuple[str, str]:
    """A tenant administrator's token (a new tenant's, unless given), and a session opened on
    a new host (not attached yet)."""
    token = token or await node.tenant("corp")
    async with node.as_("corp", token) as client:
        body = {"name": host, "type": "unix-host", "properties": {"host": "10.0.0.7"}}
        host = await client.post("assets", json=body)
        assert host.status_code == 201, host.text
        opened = await client.post(f"assets/{host.json()['id']}/sessions")
        assert opened.status_code == 201, opened.text
    return token, str(opened.json()["id"])


async def _start(node, session_id: str) -> bool:
    return await lifecycle.started(
        node.state.database, SCOPE, session_id, "10.0.0.7:22 (this node)", None, "sig"
    )


async def _audited(node, action: str) -> int:
    async with node.state.database() as db:
        count = await db.scalar(select(func.count()).where(AuditEvent.action == action))
    return int(count or 0)


async def test_a_terminate_that_meets_a_claim_ends_the_session_and_no_carrier_starts_it(node):
    token, session_id = await _pending(node)
    async with node.as_("corp", token) as client:
        # The tunnel's claim is written and not committed when the terminate arrives.
        async with node.state.database() as claiming:
            assert await states.claim(claiming, session_id, CARRIER)
            terminate = asyncio.create_task(client.post(f"sessions/{session_id}/terminate"))
            await asyncio.wait({terminate}, timeout=0.5)
            await claiming.commit()
        answered = await terminate
    assert answered.status_code == 200, answered.text
    assert (answered.json()["state"], answered.json()["error"]) == ("completed", "terminated")

    # The tunnel reached its gateway: its start finds the session terminated and lets it go.
    assert not await _start(node, session_id)
    row = await states.read(node.state.database, session_id)
    assert (row.state, row.error, row.terminated_by) == ("completed", "terminated", "tadmin")
    assert row.started_at is None
    assert await _audited(node, "session.start") == 0


async def test_a_claim_that_meets_a_terminate_finds_the_session_ended(node):
    _, session_id = await _pending(node)
    claimed: list[bool] = []

    async def write(db, who: str) -> None:
        if who == "terminate":
            assert await states.terminating(db, session_id, "tadmin")
            assert await states.end(db, session_id, TERMINATED, before=UNSTARTED) is not None
        else:
            claimed.append(await states.claim(db, session_id, CARRIER))

    await _race(node.state.database, write, "terminate", "claim")
    assert claimed == [False]
    row = await states.read(node.state.database, session_id)
    assert (row.state, row.error, row.served_by) == ("completed", "terminated", None)


async def test_an_end_after_an_end_keeps_the_first(node):
    _, session_id = await _pending(node)
    assert await _start(node, session_id)
    failed = End(SessionState.FAILED, error="Aborted. See logs.", code="remote_error")
    await lifecycle.ended(node.state.database, SCOPE, session_id, failed)
    clean = End(SessionState.COMPLETED, bytes_in=10, recordings=["recording"])
    await lifecycle.ended(node.state.database, SCOPE, session_id, clean)

    row = await states.read(node.state.database, session_id)
    assert (row.state, row.error_code, row.bytes_in, row.recordings) == (
        "failed",
        "remote_error",
        0,
        [],
    )
    assert await _audited(node, "session.end") == 1
    # Nor does a start bring an ended session back.
    assert not await _start(node, session_id)
    assert (await states.read(node.state.database, session_id)).state == "failed"


async def test_two_ends_at_the_same_moment_keep_the_first_to_commit(node):
    _, session_id = await _pending(node)
    assert await _start(node, session_id)
    ends = {
        "failed": End(SessionState.FAILED, error="Aborted. See logs.", code="remote_error"),
        "completed": End(SessionState.COMPLETED),
    }
    applied: dict[str, bool] = {}

    async def write(db, which: str) -> None:
        applied[which] = await states.end(db, session_id, ends[which]) is not None

    await _race(node.state.database, write, "failed", "completed")
    assert applied == {"failed": True, "completed": False}
    row = await states.read(node.state.database, session_id)
    assert (row.state, row.error_code) == ("failed", "remote_error")
