"""Rows two writers may create at once (two jobs, or two main nodes on one database): the
second writer waits for the first one's commit and neither breaks.

- Trust on first use, when the first contacts with a new host end at once: one key is pinned.
- The cursor of a peer's job feed, written by each main that reads the feed: the last wins.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from pamnode.assets.models import AssetHostKey
from pamnode.assets.ssh import pin_first_key
from pamnode.jobs.models import JobFeedCursor
from pamnode.jobs.peer_link import store_feed_cursor
from tests.service.conftest import in_process_node
from tests.service.test_jobs_in_process import _host


@pytest.fixture(params=["sqlite", "postgresql"])
async def node(request, tmp_path):
    url = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        url = cluster.create_database(cluster.unique_name("first_writers"))
    async with in_process_node(tmp_path, database_url=url) as started:
        yield started


async def test_two_first_contacts_pin_the_first_key_and_neither_breaks(node):
    token = await node.tenant("corp")
    async with node.as_("corp", token) as client:
        host = await _host(client, "new-host")
    sessions = node.state.sessions
    async with sessions() as first:
        await pin_first_key(first, host, "ssh-ed25519 FIRST")
        # The second writer pins while the first has not committed: it must neither fail now
        # nor make the first one's commit fail.
        second = asyncio.create_task(_pin_apart(sessions, host, "ssh-ed25519 SECOND"))
        await asyncio.wait({second}, timeout=0.5)
        await first.commit()
    await second
    async with sessions() as db:
        pinned = (await db.execute(select(AssetHostKey.key))).scalars().all()
    assert pinned == ["ssh-ed25519 FIRST"]


async def _pin_apart(sessions, asset_id: str, key: str) -> None:
    async with sessions.begin() as db:
        await pin_first_key(db, asset_id, key)


async def test_two_mains_first_feed_cursors_both_land_and_the_last_wins(node):
    token = await node.tenant("corp")
    async with node.as_("corp", token) as client:
        body = {"name": "west", "url": "https://127.0.0.1:9/ztna/remote/root"}
        created = await client.post("peer-nodes", json=body)
        assert created.status_code == 201, created.text
    peer_id = created.json()["id"]
    sessions = node.state.sessions
    async with sessions() as first:
        await store_feed_cursor(first, peer_id, "feed-a:7")
        second = asyncio.create_task(_store_apart(sessions, peer_id, "feed-a:9"))
        await asyncio.wait({second}, timeout=0.5)
        await first.commit()
    await second
    async with sessions() as db:
        stored = (await db.execute(select(JobFeedCursor.peer_id, JobFeedCursor.cursor))).all()
    assert stored == [(peer_id, "feed-a:9")]


async def _store_apart(sessions, peer_id: str, cursor: str) -> None:
    async with sessions.begin() as db:
        await store_feed_cursor(db, peer_id, cursor)
