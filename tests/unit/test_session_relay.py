"""How the main's relay decides a session's end when guacd sends an error, whichever of its
two directions stops first (guacd's error read, or the client gone on reading it), and when
its upstream is lost (closed without guacd's end, or silent).

guacd is the far end of a real socket pair; the client is a `ClientChannel` that leaves the way
a browser does when it reads the error: at once, possibly before the relay's own step ends.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from pamnode.sessions.connect import silence_for
from pamnode.sessions.guacamole.protocol import encode
from pamnode.sessions.guacamole.stream import GuacStream
from pamnode.sessions.relay import SILENCE_S, relay
from pamnode.sessions.wire import PeerSessionTicket

HOST_KEY_ERROR = encode("error", "Aborted. See logs.", "512")
# Turns of the event loop the client's close takes to be seen by the relay; more than the
# relay's other direction needs to end and wake the relay.
CLOSE_TURNS = 10


class LeavingClient:
    """A client that, when it reads an error, leaves `at_once` (its departure can be seen in
    the same turn as the relay's read of the error), `first` (seen before its send of the
    error returns: a client quicker than the relay's own step) or `never`."""

    def __init__(self, leaves: str) -> None:
        self.leaves = leaves
        self.gone = asyncio.Event()
        self.received = ""

    async def receive(self) -> str | None:
        await self.gone.wait()
        return None

    async def send(self, text: str) -> None:
        self.received += text
        if "5.error," in text and self.leaves != "never":
            self.gone.set()
            if self.leaves == "first":
                for _ in range(CLOSE_TURNS):
                    await asyncio.sleep(0)

    async def close(self, status: int, message: str) -> None:
        self.gone.set()


@pytest.fixture
async def guacd() -> AsyncIterator[tuple[GuacStream, socket.socket]]:
    """The relay's upstream, and the socket guacd writes to."""
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    yield GuacStream(reader, writer), theirs
    theirs.close()


@pytest.mark.parametrize("leaves", ["first", "at_once", "never"])
async def test_guacds_error_ends_the_session_whichever_side_stops_first(guacd, leaves):
    upstream, far_end = guacd
    client = LeavingClient(leaves)
    far_end.sendall((encode("size", "0", "1024", "768") + HOST_KEY_ERROR).encode())

    ended = await asyncio.wait_for(relay(client, upstream), 5)

    assert HOST_KEY_ERROR in client.received
    assert (ended.error, ended.lost) == ("Aborted. See logs.", "")


async def test_an_error_and_a_disconnect_in_one_read_end_with_the_error(guacd):
    upstream, far_end = guacd
    client = LeavingClient("first")
    far_end.sendall((encode("disconnect") + HOST_KEY_ERROR).encode())

    assert (await asyncio.wait_for(relay(client, upstream), 5)).error == "Aborted. See logs."


async def test_guacds_disconnect_is_a_clean_end(guacd):
    upstream, far_end = guacd
    far_end.sendall(encode("disconnect").encode())

    ended = await asyncio.wait_for(relay(LeavingClient("never"), upstream), 5)
    assert (ended.error, ended.lost) == ("", "")


async def test_a_close_without_guacds_end_is_a_lost_route(guacd):
    upstream, far_end = guacd
    far_end.sendall(encode("sync", "1").encode())
    far_end.close()

    ended = await asyncio.wait_for(relay(LeavingClient("never"), upstream), 5)
    assert ended.error == "" and "closed in the middle of the session" in ended.lost


async def test_a_silent_gateway_is_lost_after_the_silence_bound(guacd):
    """guacd says `nop` every 5 s: an upstream that says nothing for the bound is gone (a
    frozen peer keeps its socket open), while one that keeps saying `nop` is not."""
    upstream, far_end = guacd
    client = LeavingClient("never")
    relaying = asyncio.create_task(relay(client, upstream, silence_s=0.5))
    for _ in range(4):
        far_end.sendall(encode("nop").encode())
        await asyncio.sleep(0.3)
    assert not relaying.done()

    ended = await asyncio.wait_for(relaying, 5)
    assert ended.lost == "nothing came from the gateway for 0.5 s"
    assert client.received.count("3.nop;") == 4


def test_only_a_front_whose_ticket_says_it_keeps_alive_is_watched_for_silence():
    """An older peer's front says nothing while a session is idle: its ticket has no
    `keep_alive_s`, and the main must not take that silence for a lost peer."""
    older = PeerSessionTicket.model_validate_json(
        '{"id": "s", "ticket": "t", "expires_in_s": 30, "node_signature": "p::t::root"}'
    )
    assert silence_for(older) is None
    assert silence_for(older.model_copy(update={"keep_alive_s": 3.0})) == SILENCE_S
