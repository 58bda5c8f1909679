"""`/peer-link` is open to anyone until a peer says who it is: a crowd of WebSockets that
never do holds at most UNPROVEN_MAX of them at once; past that a new one is closed at once
with the reason, and once the crowd is gone a link is answered again (link/answer.py)."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from pamnode.lab.node_process import tls_context
from pamnode.link.answer import BUSY, UNPROVEN_MAX

pytestmark = pytest.mark.databases("sqlite")


async def _open(url: str, context) -> ClientConnection:
    return await connect(url, ssl=context, open_timeout=30, max_size=2**16)


async def _crowd_then_one(node) -> tuple[list[str], str, str]:
    url = node.base_url.replace("https://", "wss://") + "/ztna/base/root/peer-link"
    context = tls_context(node.cert_path)
    silent = [await _open(url, context) for _ in range(UNPROVEN_MAX)]
    # Each was challenged, and holds its place by saying nothing.
    challenges = [json.loads(await ws.recv())["challenge"] for ws in silent]
    extra = await _open(url, context)
    try:
        await asyncio.wait_for(extra.recv(), 10)
        turned_away = "answered"
    except ConnectionClosed:
        turned_away = extra.close_reason or ""
    for ws in silent:
        await ws.close()
    await asyncio.sleep(0.5)
    later = await _open(url, context)
    answered = json.loads(await asyncio.wait_for(later.recv(), 10))["challenge"]
    await later.close()
    return challenges, turned_away, answered


def test_a_crowd_of_silent_links_is_bounded_and_the_next_link_is_answered(node_factory):
    node = node_factory("crowded")
    challenges, turned_away, answered = asyncio.run(_crowd_then_one(node))
    assert len(set(challenges)) == UNPROVEN_MAX
    assert turned_away == BUSY
    assert answered and answered not in challenges
    assert "links turned away" in node.log_text()
