"""The recordings a session leaves on a lost peer, on both databases: mains that share the
database fetch each once (a conditional update claims it), and the node's own task asks the
peer again after a backoff, or gives the recordings up when the peer was deleted."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from pamnode.db.base import utcnow
from pamnode.sessions import lifecycle, recording_retries, states
from pamnode.sessions.models import Session
from pamnode.sessions.states import End, SessionState
from tests.service.conftest import InProcessNode
from tests.service.test_session_states_in_process import SCOPE, _pending, _start


@pytest.fixture
def node(node_on_each_database: InProcessNode) -> InProcessNode:
    return node_on_each_database


@pytest.fixture
def quick_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The node's own rounds every 0.2 s, not every 2, for a test that waits for one (asked
    for before `node`, whose start begins the rounds). Not for the claim test: the node's own
    round could take its row between two of the test's statements, ten times as often."""
    monkeypatch.setattr(recording_retries, "TICK_S", 0.2)


async def _pending_recordings(node, peer_id: str, token: str | None = None) -> str:
    """A session that ended with its recordings still on peer `peer_id`."""
    _, session_id = await _pending(node, token, f"web-{peer_id}")
    assert await _start(node, session_id)
    lost = End(SessionState.FAILED, error="lost", code="peer_lost", recordings_on=peer_id)
    await lifecycle.ended(node.state.database, SCOPE, session_id, lost)
    return session_id


async def test_two_mains_claim_a_pending_recording_once(node):
    """Several mains share the database: the conditional update lets one of them fetch."""
    session_id = await _pending_recordings(node, "no-such-peer")
    # Read as due by two mains at once (set ahead, so that this node's own round leaves it).
    seen = utcnow() + timedelta(hours=1)
    async with node.state.database.begin() as db:
        await db.execute(
            update(Session).where(Session.id == session_id).values(recording_next_at=seen)
        )
    ctx = node.state.remote_sessions
    claims = await asyncio.gather(
        *(recording_retries._claim(ctx, session_id, seen) for _ in range(2))
    )
    assert sorted(claims) == [False, True]


async def test_a_peer_that_cannot_answer_is_asked_again_later_and_a_deleted_one_given_up(
    quick_rounds, node
):
    """The node's own task asks the peers of pending recordings: one it cannot ask (no trust
    yet) is asked again after a backoff; one that was deleted is given up, in words."""
    token = await node.tenant("corp")
    async with node.as_("corp", token) as client:
        body = {"name": "west", "url": "https://127.0.0.1:9/ztna/remote/root"}
        created = await client.post("peer-nodes", json=body)
        assert created.status_code == 201, created.text
    waiting = await _pending_recordings(node, created.json()["id"], token)
    gone = await _pending_recordings(node, "a-deleted-peer", token)
    # This node's own round takes them within a round or two (30 s on a loaded machine).
    for _ in range(300):
        row = await states.read(node.state.database, waiting)
        if (
            row.recording_tries
            and not (await states.read(node.state.database, gone)).recordings_pending
        ):
            break
        await asyncio.sleep(0.1)
    # Its trust is not established: nothing to ask with, so it waits and tries again.
    assert row.recordings_pending and row.recording_tries == 1
    assert row.recording_next_at is not None and row.recording_next_at > utcnow()
    row = await states.read(node.state.database, gone)
    assert not row.recordings_pending and row.recordings == []
    assert row.error == "lost; the peer node that carried the session was deleted"
    assert [recording_retries.backoff_s(n) for n in (0, 1, 2, 5, 30)] == [2, 4, 8, 60, 60]
