"""Many byte streams over one link: open, data, window and close frames with stream ids, and
heartbeats.

A stream joins a pair of asyncio streams on each side: on the main, one end of a socket pair
whose other end a TLS client uses; on the peer, its connection to one of its own listeners.
Only the main opens streams (`open`); the peer's `accept` decides whether the named listener
exists. Each direction of a stream may have at most `WINDOW` bytes in flight: the receiver
grants more as its side's writer drains, so a stream whose reader is slow (a bulk transfer to
a slow client) stops only itself, never the link or the other streams.

Heartbeats: each side sends a ping every `heartbeat_s`; a link from which nothing arrived for
`DEAD_AFTER_S` is dead (`run` returns), which both sides see within 15 s.
"""

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from pamnode.core.errors import PeerFailure

log = logging.getLogger("pamnode.link")

_HEADER = struct.Struct("!BI")
_CREDIT = struct.Struct("!I")
_STAMP = struct.Struct("!d")
# Bytes of one DATA frame at most, and bytes a stream may have in flight in one direction.
MAX_DATA = 16 * 1024
WINDOW = 256 * 1024
HEARTBEAT_S = 4.0
# Silence after which a link is dead: checked every second, so seen within 12 s.
DEAD_AFTER_S = 11.0
OPEN_TIMEOUT_S = 10.0


class Kind(IntEnum):
    OPEN = 1
    ACCEPT = 2
    DATA = 3
    WINDOW = 4
    CLOSE = 5
    PING = 6
    PONG = 7


class Channel(Protocol):
    """The link's message channel (a WebSocket on either side)."""

    async def send(self, frame: bytes) -> None: ...

    async def receive(self) -> bytes | None:
        """The next binary message; None once the channel closed."""

    async def close(self, reason: str) -> None: ...


Pair = tuple[asyncio.StreamReader, asyncio.StreamWriter]
# The peer's side: the connection to the listener a stream names; PeerFailure to refuse it.
Accept = Callable[[str], Awaitable[Pair]]


class LinkBroken(Exception):
    """The other side broke the protocol; the link is closed."""


@dataclass
class _Stream:
    sid: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    # Bytes this side may still send before the other grants more.
    window: int = WINDOW
    # Bytes received and not yet granted back (they are granted as the writer drains).
    buffered: int = 0
    opened: asyncio.Future[None] | None = None

    def __post_init__(self) -> None:
        self.inbound: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.credit = asyncio.Event()
        self.credit.set()
        self.ended = False
        self.tasks: list[asyncio.Task[None]] = []


class Mux:
    def __init__(
        self,
        channel: Channel,
        accept: Accept | None = None,
        on_heartbeat: Callable[[float], None] | None = None,
        heartbeat_s: float = HEARTBEAT_S,
        dead_after_s: float = DEAD_AFTER_S,
    ) -> None:
        self._channel = channel
        self._accept = accept
        self._on_heartbeat = on_heartbeat
        self._heartbeat_s = heartbeat_s
        self._dead_after_s = dead_after_s
        self._streams: dict[int, _Stream] = {}
        self._next_sid = 1
        self._send_lock = asyncio.Lock()
        self._last_heard = time.monotonic()
        self._closed = asyncio.Event()
        self._accepting_tasks: set[asyncio.Task[None]] = set()
        self.close_reason = ""
        # Set as the link ends, before its streams are: whoever sees a stream end can tell
        # that the link took it down.
        self.ended = False

    async def run(self) -> None:
        """Carry the link until it closes, breaks or goes silent; then end every stream."""
        tasks = [
            asyncio.create_task(self._read_frames(), name="link frames"),
            asyncio.create_task(self._heartbeats(), name="link heartbeats"),
            asyncio.create_task(self._closed.wait(), name="link close"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and (exc := task.exception()) is not None:
                    self.close_reason = self.close_reason or str(exc)
        finally:
            self.ended = True
            # Streams being accepted end with the link too (their answer has nowhere to go).
            for task in [*tasks, *self._accepting_tasks]:
                task.cancel()
            await asyncio.gather(*tasks, *self._accepting_tasks, return_exceptions=True)
            for stream in list(self._streams.values()):
                await self._end(stream, remote=True)
            with contextlib.suppress(Exception):
                await self._channel.close(self.close_reason or "link closed")

    def close(self, reason: str) -> None:
        """End the link (e.g. its enrolment was revoked): `run` returns."""
        self.close_reason = reason
        self._closed.set()

    async def open(
        self, listener: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """A stream to the peer's `listener`, carried to and from reader/writer; PeerFailure
        when the peer refuses it or does not answer."""
        sid = self._next_sid
        self._next_sid += 2
        stream = _Stream(sid, reader, writer, opened=asyncio.get_running_loop().create_future())
        self._streams[sid] = stream
        await self._send(Kind.OPEN, sid, listener.encode())
        assert stream.opened is not None
        try:
            await asyncio.wait_for(stream.opened, OPEN_TIMEOUT_S)
        except TimeoutError:
            await self._end(stream, remote=False)
            raise PeerFailure(
                f"the peer did not open its {listener} within {OPEN_TIMEOUT_S:.0f} s",
                code="link_stream_refused",
            ) from None
        self._start(stream)

    async def _send(self, kind: Kind, sid: int, payload: bytes = b"") -> None:
        async with self._send_lock:
            await self._channel.send(_HEADER.pack(kind, sid) + payload)

    async def _read_frames(self) -> None:
        while (frame := await self._channel.receive()) is not None:
            self._last_heard = time.monotonic()
            if len(frame) < _HEADER.size:
                raise LinkBroken("a frame shorter than its header")
            kind, sid = _HEADER.unpack_from(frame)
            await self._on_frame(kind, sid, frame[_HEADER.size :])
        self.close_reason = self.close_reason or "the other side closed the link"

    async def _on_frame(self, kind: int, sid: int, payload: bytes) -> None:
        if kind == Kind.PING:
            await self._send(Kind.PONG, sid, payload)
            return
        if kind == Kind.PONG:
            if len(payload) == _STAMP.size and self._on_heartbeat is not None:
                self._on_heartbeat(time.monotonic() - _STAMP.unpack(payload)[0])
            return
        if kind == Kind.OPEN:
            await self._on_open(sid, payload)
            return
        stream = self._streams.get(sid)
        if stream is None:
            # A stream that ended here meanwhile: its last frames cross our CLOSE.
            return
        if kind == Kind.ACCEPT and stream.opened is not None and not stream.opened.done():
            stream.opened.set_result(None)
        elif kind == Kind.DATA:
            stream.buffered += len(payload)
            if stream.buffered > WINDOW:
                raise LinkBroken(f"stream {sid} sent beyond its window")
            stream.inbound.put_nowait(payload)
        elif kind == Kind.WINDOW and len(payload) == _CREDIT.size:
            stream.window += _CREDIT.unpack(payload)[0]
            stream.credit.set()
        elif kind == Kind.CLOSE:
            if stream.opened is not None and not stream.opened.done():
                reason = payload.decode("utf-8", "replace")[:300] or "refused"
                stream.opened.set_exception(
                    PeerFailure(
                        f"the peer refused the stream: {reason}", code="link_stream_refused"
                    )
                )
                self._streams.pop(sid, None)
                return
            stream.ended = True
            stream.inbound.put_nowait(None)
        else:
            raise LinkBroken(f"unknown frame kind {kind}")

    async def _on_open(self, sid: int, payload: bytes) -> None:
        # Stream ids the main opens are odd; a peer never opens one (it has no `accept` there).
        if self._accept is None or sid % 2 == 0 or sid in self._streams:
            raise LinkBroken(f"stream {sid} opened by the wrong side")
        stream = _Stream(sid)
        self._streams[sid] = stream
        task = asyncio.create_task(self._accepting(stream, payload.decode("utf-8", "replace")))
        self._accepting_tasks.add(task)
        task.add_done_callback(self._accepting_tasks.discard)

    async def _accepting(self, stream: _Stream, listener: str) -> None:
        assert self._accept is not None
        try:
            stream.reader, stream.writer = await self._accept(listener)
        except PeerFailure as exc:
            self._streams.pop(stream.sid, None)
            await self._send(Kind.CLOSE, stream.sid, exc.message.encode()[:300])
            return
        await self._send(Kind.ACCEPT, stream.sid)
        self._start(stream)

    def _start(self, stream: _Stream) -> None:
        stream.tasks = [
            asyncio.create_task(self._outbound(stream)),
            asyncio.create_task(self._inbound(stream)),
        ]

    async def _outbound(self, stream: _Stream) -> None:
        """This side's bytes to the other, within the window the other grants."""
        assert stream.reader is not None
        try:
            while True:
                await stream.credit.wait()
                data = await stream.reader.read(min(MAX_DATA, stream.window))
                if not data:
                    break
                stream.window -= len(data)
                if stream.window <= 0:
                    stream.credit.clear()
                await self._send(Kind.DATA, stream.sid, data)
        except (OSError, ConnectionError):
            pass
        # What the other side sent before it learns of the end is still written here.
        if not stream.ended:
            stream.ended = True
            with contextlib.suppress(Exception):
                await self._send(Kind.CLOSE, stream.sid)
        stream.inbound.put_nowait(None)

    async def _inbound(self, stream: _Stream) -> None:
        """The other side's bytes to this side's writer; the window is granted as it drains."""
        assert stream.writer is not None
        granted = 0
        try:
            while (data := await stream.inbound.get()) is not None:
                stream.writer.write(data)
                await stream.writer.drain()
                stream.buffered -= len(data)
                granted += len(data)
                if granted >= WINDOW // 4:
                    await self._send(Kind.WINDOW, stream.sid, _CREDIT.pack(granted))
                    granted = 0
        except (OSError, ConnectionError):
            pass
        await self._end(stream, remote=False)

    async def _end(self, stream: _Stream, remote: bool) -> None:
        self._streams.pop(stream.sid, None)
        if not stream.ended and not remote:
            stream.ended = True
            with contextlib.suppress(Exception):
                await self._send(Kind.CLOSE, stream.sid)
        current = asyncio.current_task()
        for task in stream.tasks:
            if task is not current:
                task.cancel()
        if stream.opened is not None and not stream.opened.done():
            stream.opened.set_exception(
                PeerFailure("the link closed before the stream opened", code="link_down")
            )
        if stream.writer is not None:
            stream.writer.close()

    async def _heartbeats(self) -> None:
        sent = 0.0
        while True:
            now = time.monotonic()
            if now - self._last_heard > self._dead_after_s:
                self.close_reason = f"nothing heard for {self._dead_after_s:.0f} s"
                return
            if now - sent >= self._heartbeat_s:
                sent = now
                await self._send(Kind.PING, 0, _STAMP.pack(now))
            await asyncio.sleep(min(1.0, self._dead_after_s / 4))
