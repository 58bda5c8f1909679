"""One stream of the link as an asyncio transport, so that what runs on it — TLS to a peer's
listener on the main, that listener's own TLS server on the peer — writes into the link and
reads from it with no socket between (each socket pair or loopback connection in the way cost
a write, a read and a wake-up for every chunk of a bulk transfer).

What the protocol writes leaves in DATA frames of at most `MAX_DATA` bytes, never more than
the other side has granted (`WINDOW` at first); the writer is paused while more than
`WRITE_HIGH` bytes wait. What the other side sends is handed to the protocol as it comes and
granted back as it is handed, so a protocol that pauses reading holds the other side's sender
after one window, and only this stream's.
"""

import asyncio
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Any

_CREDIT = struct.Struct("!I")
# Bytes of one DATA frame at most, and bytes a stream may have in flight in one direction.
# Each frame costs a WebSocket message and a write into the link's TLS on each side, so a bulk
# transfer moves in frames as large as it fills: 128 KiB frames in a 512 KiB window copied
# 100 MB with 10-20 % less CPU on the peer than 64 KiB in 256 KiB (docs/benchmarks.md). The
# window is also how much of a bulk stream may wait in the link ahead of another stream's
# keystroke (about 0.2 s at 20 Mbit/s; OpenSSH's own channel window is 2 MiB).
MAX_DATA = 128 * 1024
WINDOW = 512 * 1024
# What the receiver has handed on is granted back in steps of this many bytes. Each grant is a
# frame of its own back across the link (a WebSocket message, a TLS record, a write): with a
# quarter window, the peer's frames back during an upload, mostly grants, took about a fifth
# of its CPU (py-spy). At half, the sender still always has half a window it may send.
GRANT_STEP = WINDOW // 2
# The protocol's writing is paused above WRITE_HIGH bytes waiting, resumed at WRITE_LOW.
WRITE_HIGH = 2 * MAX_DATA
WRITE_LOW = MAX_DATA // 2


class Kind(IntEnum):
    OPEN = 1
    ACCEPT = 2
    DATA = 3
    WINDOW = 4
    CLOSE = 5
    PING = 6
    PONG = 7


class LinkBroken(Exception):
    """The other side broke the protocol; the link is closed."""


# Sends one frame of the stream on the link (kind, payload); ConnectionError once it closed.
Send = Callable[[Kind, bytes], Awaitable[None]]


class StreamTransport(asyncio.Transport):
    # TLS begins on it with `core/streams.tls_over` and runs inside the stream, end to end.

    def __init__(
        self, sid: int, send: Send, forget: Callable[[int], None], extra: dict[str, Any]
    ) -> None:
        super().__init__(extra)
        self.sid = sid
        self._send = send
        self._forget = forget
        self._protocol: asyncio.BaseProtocol | None = None
        # Bytes this side may still send before the other grants more.
        self._window = WINDOW
        self._outgoing = bytearray()
        self._high, self._low = WRITE_HIGH, WRITE_LOW
        self._writing_paused = False
        # What came from the other side and is not handed on yet (no protocol, or paused).
        self._held: deque[bytes] = deque()
        self._unhanded = 0
        self._ungranted = 0
        self._reading_paused = False
        self._hand_on_due = False
        self._closing = False
        self._remote_closed = False
        self._eof_delivered = False
        self._finished = False
        self._lost_exc: Exception | None = None
        self._abort_exc: Exception | None = None
        self._wake = asyncio.Event()
        # Held: asyncio keeps only a weak reference to a running task.
        self._carrier: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start carrying what the protocol writes (once the stream is open)."""
        self._carrier = asyncio.create_task(self._carry(), name=f"link stream {self.sid}")

    # What the protocol calls.

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        if self._finished:
            # Given a protocol after it ended (its close crossed the protocol's start): the
            # protocol still learns so, or its owner waits for a close that never comes.
            asyncio.get_running_loop().call_soon(protocol.connection_lost, self._lost_exc)
            return
        self._hand_on_soon()

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def write(self, data: bytes | bytearray | memoryview) -> None:
        # After the other side's CLOSE nothing written can reach it: dropped, as a socket's
        # transport drops what is written after the connection was lost.
        if self._closing or self._finished or self._remote_closed or not data:
            return
        self._outgoing += data
        self._wake.set()
        if len(self._outgoing) > self._high and not self._writing_paused:
            self._writing_paused = True
            if self._protocol is not None:
                self._protocol.pause_writing()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def can_write_eof(self) -> bool:
        # A stream ends both ways at once (CLOSE): there is no half-close to offer.
        return False

    def write_eof(self) -> None:
        raise NotImplementedError("a stream of the link cannot be half-closed")

    def get_write_buffer_size(self) -> int:
        return len(self._outgoing)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = WRITE_HIGH if high is None else high
        self._low = min(self._high, (self._high // 4) if low is None else low)

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        self._reading_paused = False
        self._hand_on_soon()

    def is_reading(self) -> bool:
        return not self._reading_paused and not self._finished

    def is_closing(self) -> bool:
        return self._closing or self._finished

    def close(self) -> None:
        """What was written still leaves, then the stream closes."""
        if self._remote_closed:
            self._outgoing.clear()
        self._closing = True
        self._wake.set()

    def abort(self) -> None:
        self._force_close(None)

    def _force_close(self, exc: Exception | None) -> None:
        # Named as asyncio's own transports name it: asyncio's TLS layer calls it.
        self._outgoing.clear()
        self._abort_exc = exc
        self.close()

    @property
    def unhanded(self) -> int:
        """Bytes the other side sent that this side has not handed on yet (at most WINDOW)."""
        return self._unhanded

    # What the link calls.

    def received(self, data: bytes) -> None:
        """The other side's DATA frame."""
        if self._remote_closed:
            return  # after its own CLOSE: an honest side sends nothing more
        self._unhanded += len(data)
        # Handed on but not granted back yet counts too: the sender has no credit for it.
        if self._unhanded + self._ungranted > WINDOW:
            raise LinkBroken(f"stream {self.sid} sent beyond its window")
        self._held.append(data)
        self._hand_on()

    def granted(self, payload: bytes) -> None:
        """The other side's WINDOW frame."""
        if len(payload) == _CREDIT.size:
            self._window += _CREDIT.unpack(payload)[0]
            self._wake.set()

    def remote_closed(self) -> None:
        """The other side's CLOSE: what it sent before is still handed on."""
        self._remote_closed = True
        self._hand_on()

    def lost(self, exc: Exception) -> None:
        """The link ended under the stream."""
        self._finish(exc)

    # Inside.

    def _hand_on_soon(self) -> None:
        # As a socket's transport would: never from inside the protocol's own call (a reader
        # resumes reading and then waits for data; what came meanwhile must wake it).
        if not self._hand_on_due:
            self._hand_on_due = True
            asyncio.get_running_loop().call_soon(self._hand_on)

    def _hand_on(self) -> None:
        self._hand_on_due = False
        protocol = self._protocol
        while self._held and protocol is not None and not self._reading_paused:
            data = self._held.popleft()
            self._unhanded -= len(data)
            self._ungranted += len(data)
            if not self._closing and not self._finished:
                _feed(protocol, data)
            # The protocol may have paused reading, or been replaced (TLS started).
            protocol = self._protocol
        if self._ungranted >= GRANT_STEP:
            self._wake.set()
        if self._remote_closed and not self._held and not self._eof_delivered:
            self._eof_delivered = True
            keep_open = False
            if not self._closing and isinstance(
                protocol, asyncio.Protocol | asyncio.BufferedProtocol
            ):
                # As asyncio's contract has it: a true answer keeps the transport until the
                # protocol closes it. asyncio's TLS layer answers so while its reader is
                # paused, holding records not yet decrypted; finishing here would drop them.
                keep_open = bool(protocol.eof_received())
            if not keep_open:
                self._finish(None)

    async def _carry(self) -> None:
        """This stream's frames, in order: grants, data within the window, then its close."""
        try:
            while not self._finished:
                if self._ungranted >= GRANT_STEP and not self._remote_closed:
                    grant, self._ungranted = self._ungranted, 0
                    await self._send(Kind.WINDOW, _CREDIT.pack(grant))
                elif self._outgoing and self._window > 0:
                    size = min(len(self._outgoing), MAX_DATA, self._window)
                    with memoryview(self._outgoing) as view:
                        data = view[:size].tobytes()  # one copy, not a slice and its copy
                    del self._outgoing[:size]
                    self._window -= size
                    if self._writing_paused and len(self._outgoing) <= self._low:
                        self._writing_paused = False
                        if self._protocol is not None:
                            self._protocol.resume_writing()
                    await self._send(Kind.DATA, data)
                elif self._closing and not self._outgoing:
                    if not self._remote_closed:
                        await self._send(Kind.CLOSE, b"")
                    self._finish(self._abort_exc)
                else:
                    self._wake.clear()
                    await self._wake.wait()
        except ConnectionError as exc:
            self._finish(exc)

    def _finish(self, exc: Exception | None) -> None:
        if self._finished:
            return
        self._finished = True
        self._lost_exc = exc
        self._wake.set()
        self._forget(self.sid)
        if self._protocol is not None:
            asyncio.get_running_loop().call_soon(self._protocol.connection_lost, exc)


def _feed(protocol: asyncio.BaseProtocol, data: bytes) -> None:
    if isinstance(protocol, asyncio.BufferedProtocol):
        view = memoryview(data)
        while view:
            buffer = memoryview(protocol.get_buffer(len(view)))
            size = min(len(buffer), len(view))
            buffer[:size] = view[:size]
            protocol.buffer_updated(size)
            view = view[size:]
    elif isinstance(protocol, asyncio.Protocol):
        protocol.data_received(data)
