"""The main's relay between a client's tunnel (a browser's WebSocket) and a session's guacd.

What the browser's guacamole-common-js expects of a WebSocket tunnel: the tunnel's id first
as an internal instruction (`0.,36.<uuid>;`), whole instructions per message, its internal
`ping` answered, and no internal instruction passed on to guacd. An `error` from guacd is
passed on (the browser shows it) and ends the session like a close does, and so does its
`disconnect` (the remote side ended, e.g. the shell exited).

An upstream that closes without guacd's `disconnect` or `error` has lost the session's route
(a killed peer, a crashed guacd): the relay ends and says so (`RelayEnd.lost`). A peer's
gateway front never goes quiet (it says `nop` whenever guacd has been silent for 3 s; guacd
itself says nothing while a session is idle), so an upstream through a front that is silent
for SILENCE_S is lost too (a frozen peer, a cut network), as Guacamole's own tunnel decides
with its read timeout.
"""

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Protocol

from pamnode.sessions.guacamole.protocol import Scanner, encode, parse
from pamnode.sessions.guacamole.stream import GuacStream, StreamClosed

INTERNAL = ""
# What a read-only client (a Monitor) may send on: its display's answers and its leaving, never
# a key, a mouse move, the clipboard or a file (guacd's `read-only` ignores those too).
WATCHER_SAYS = frozenset({"sync", "nop", "ack", "disconnect"})
# How long a peer's front may say nothing (it says `nop` every 3 s) before the route is taken
# for lost; Guacamole's Java tunnel waits 15 s for guacd, a lost peer must show within 10 s.
SILENCE_S = 10.0
# What a peer's front says `nop` after, when guacd said nothing (guacd is silent while a
# session is idle): three of them fit in SILENCE_S. Proxy routes and Monitor streams keep the
# same beat.
KEEP_ALIVE_S = 3.0


class ClientChannel(Protocol):
    """The client's side of a tunnel; the HTTP adapter implements it over a WebSocket."""

    async def receive(self) -> str | None:
        """The next message, or None once the client has gone."""
        ...

    async def send(self, text: str) -> None: ...

    async def close(self, status: int, message: str) -> None: ...


@dataclass
class RelayEnd:
    """How the relay ended: guacd's error, once it sent one (written before the client sees
    it), or why the upstream was lost (it went silent or closed without guacd ending the
    session); both empty for a clean end."""

    error: str = ""
    lost: str = ""


def _said_end(text: str) -> str | None:
    """guacd's error message if `text` holds one, "" if it holds a `disconnect` (the remote
    side ended, e.g. the shell exited; guacd waits for us), None if the session goes on."""
    # Cheap test first: guacd's drawing dominates and rarely holds these texts.
    if "5.error," not in text and "10.disconnect;" not in text:
        return None
    ending = None
    for instruction in parse(text):
        if instruction.opcode == "error":
            return instruction.args[0] if instruction.args else "guacd ended the session"
        if instruction.opcode == "disconnect":
            ending = ""
    return ending


async def _down(
    upstream: GuacStream, client: ClientChannel, ending: RelayEnd, silence_s: float | None
) -> None:
    """guacd to the client, until guacd ends the session, either side goes or guacd's side
    falls silent."""
    while True:
        try:
            text = await asyncio.wait_for(upstream.read_text(), silence_s)
        except TimeoutError:
            ending.lost = f"nothing came from the gateway for {silence_s:g} s"
            return
        except (StreamClosed, ConnectionError):
            # guacd says `disconnect` or `error` before it lets a session go: a close without
            # either is the route's (or a Terminate's, which the caller knows of).
            ending.lost = "the gateway's connection closed in the middle of the session"
            return
        said = _said_end(text)
        # Kept before the client can see it: a client that leaves as soon as it reads an
        # error ends the other direction, and its end must not be taken for a clean one.
        if said:
            ending.error = said
        try:
            await client.send(text)
        except ConnectionError:
            # The client went away.
            return
        if said is not None:
            return


async def _up(client: ClientChannel, upstream: GuacStream, read_only: bool) -> None:
    """The client to guacd, until the client goes or guacd's side closes; a read-only client
    (a Monitor) gets only what its display must answer through."""
    scanner = Scanner()
    while (message := await client.receive()) is not None:
        scanner.feed(message)
        forward = []
        for instruction in scanner.take():
            if instruction.opcode == INTERNAL:
                if instruction.args[:1] == ("ping",):
                    await client.send(instruction.encode())
                continue
            if read_only and instruction.opcode not in WATCHER_SAYS:
                continue
            forward.append(instruction.encode())
        if forward:
            try:
                await upstream.send("".join(forward))
            except ConnectionError:
                # guacd's side closed (Terminate closes it) while the client still spoke.
                return


async def relay(
    client: ClientChannel,
    upstream: GuacStream,
    silence_s: float | None = None,
    read_only: bool = False,
) -> RelayEnd:
    """Carry the session until either side ends it or guacd's side is lost (closed, or
    silent for `silence_s`: only for an upstream that keeps itself alive, a peer's front).

    The error is the one guacd sent, whichever direction stopped first: the two may stop in
    the same turn of the loop (the client read the error and closed at once)."""
    ending = RelayEnd()
    down = asyncio.create_task(_down(upstream, client, ending, silence_s))
    up = asyncio.create_task(_up(client, upstream, read_only))
    try:
        done, _ = await asyncio.wait((down, up), return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            # A direction that broke (a protocol error, a socket's) is the caller's to report.
            task.result()
    finally:
        for task in (down, up):
            task.cancel()
        await asyncio.gather(down, up, return_exceptions=True)
        if ending.lost:
            # Nothing to say to a lost upstream, and no TLS goodbye to wait for (a frozen
            # peer would hold the session's end for the whole shutdown timeout).
            upstream.writer.transport.abort()
        else:
            with contextlib.suppress(OSError):
                # Ends the session on guacd (and, through a front, on the peer) at once.
                await upstream.send(encode("disconnect"))
            await upstream.close()
    return ending


def tunnel_id(session_id: str) -> str:
    return encode(INTERNAL, session_id)
