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
from tests.service.conftest import InProcessNode
from tests.service.test_jobs_in_process import _host


@pytest.fixture
def node(node_on_each_database: InProcessNode) -> InProcessNode:
    return node_on_each_database


async def test_two_first_contacts_pin_the_first_key_and_neither_breaks(node):
    token = await node.tenant("corp")
    async with node.as_("corp", token) as client:
        host = await _host(client, "new-host")

    async def pin(db, key: str) -> None:
        await pin_first_key(db, host, key)

    await _race(node.state.database, pin, "ssh-ed25519 FIRST", "ssh-ed25519 SECOND")
    async with node.state.database() as db:
        pinned = (await db.execute(select(AssetHostKey.key))).scalars().all()
    assert pinned == ["ssh-ed25519 FIRST"]


async def test_two_mains_first_feed_cursors_both_land_and_the_last_wins(node):
    token = await node.tenant("corp")
    async with node.as_("corp", token) as client:
        body = {"name": "west", "url": "https://127.0.0.1:9/ztna/remote/root"}
        created = await client.post("peer-nodes", json=body)
        assert created.status_code == 201, created.text
    peer_id = created.json()["id"]

    async def store(db, cursor: str) -> None:
        await store_feed_cursor(db, peer_id, cursor)

    await _race(node.state.database, store, "feed-a:7", "feed-a:9")
    async with node.state.database() as db:
        stored = (await db.execute(select(JobFeedCursor.peer_id, JobFeedCursor.cursor))).all()
    assert stored == [(peer_id, "feed-a:9")]


async def _race(database, write, first_value: str, second_value: str) -> None:
    """`write` twice: the second in a transaction of its own while the first has not
    committed. It must neither fail now nor make the first one's commit fail."""
    async with database() as first:
        await write(first, first_value)
        second = asyncio.create_task(_apart(database, write, second_value))
        await asyncio.wait({second}, timeout=0.5)
        await first.commit()
    await second


async def _apart(database, write, value: str) -> None:
    async with database.begin() as db:
        await write(db, value)
