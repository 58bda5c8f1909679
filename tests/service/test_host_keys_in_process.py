"""Trust on first use when the first contacts with a new host end at once (a host executed
twice, or two main nodes running jobs for it): neither job breaks, and one key is pinned."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from pamnode.assets.models import AssetHostKey
from pamnode.assets.ssh import pin_first_key
from tests.service.conftest import in_process_node
from tests.service.test_jobs_in_process import _host


@pytest.fixture(params=["sqlite", "postgresql"])
async def node(request, tmp_path):
    url = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        url = cluster.create_database(cluster.unique_name("host_keys"))
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
