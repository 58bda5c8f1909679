"""The main's relay between a client's tunnel (a browser's WebSocket) and a session's guacd.

What the browser's guacamole-common-js expects of a WebSocket tunnel: the tunnel's id first
as an internal instruction (`0.,36.<uuid>;`), whole instructions per message, its internal
`ping` answered, and no internal instruction passed on to guacd. An `error` from guacd is
passed on (the browser shows it) and ends the session like a close does, and so does its
`disconnect` (the remote side ended, e.g. the shell exited).
"""

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Protocol

from pamnode.sessions.guacamole.protocol import Scanner, encode, parse
from pamnode.sessions.guacamole.stream import GuacStream, StreamClosed

INTERNAL = ""


class ClientChannel(Protocol):
    """The client's side of a tunnel; the HTTP adapter implements it over a WebSocket."""

    async def receive(self) -> str | None:
        """The next message, or None once the client has gone."""
        ...

    async def send(self, text: str) -> None: ...

    async def close(self, status: int, message: str) -> None: ...


@dataclass
class _Ending:
    """guacd's error, once it sent one; written before the client sees it."""

    error: str = ""


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


async def _down(upstream: GuacStream, client: ClientChannel, ending: _Ending) -> None:
    """guacd to the client, until guacd ends the session or either side goes."""
    while True:
        try:
            text = await upstream.read_text()
        except (StreamClosed, ConnectionError):
            # guacd ended the connection: the session ended normally.
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


async def _up(client: ClientChannel, upstream: GuacStream) -> None:
    """The client to guacd, until the client goes or guacd's side closes."""
    scanner = Scanner()
    while (message := await client.receive()) is not None:
        scanner.feed(message)
        forward = []
        for instruction in scanner.take():
            if instruction.opcode == INTERNAL:
                if instruction.args[:1] == ("ping",):
                    await client.send(instruction.encode())
                continue
            forward.append(instruction.encode())
        if forward:
            try:
                await upstream.send("".join(forward))
            except ConnectionError:
                # guacd's side closed (Terminate closes it) while the client still spoke.
                return


async def relay(client: ClientChannel, upstream: GuacStream) -> str:
    """Carry the session until either side ends it; returns guacd's error, if any.

    The error is the one guacd sent, whichever direction stopped first: the two may stop in
    the same turn of the loop (the client read the error and closed at once)."""
    ending = _Ending()
    down = asyncio.create_task(_down(upstream, client, ending))
    up = asyncio.create_task(_up(client, upstream))
    try:
        done, _ = await asyncio.wait((down, up), return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            # A direction that broke (a protocol error, a socket's) is the caller's to report.
            task.result()
    finally:
        for task in (down, up):
            task.cancel()
        await asyncio.gather(down, up, return_exceptions=True)
        with contextlib.suppress(OSError):
            # Ends the session on guacd (and, through a front, on the peer) at once.
            await upstream.send(encode("disconnect"))
        await upstream.close()
    return ending.error


def tunnel_id(session_id: str) -> str:
    return encode(INTERNAL, session_id)
