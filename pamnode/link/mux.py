"""Many byte streams over one link: open, data, window and close frames with stream ids, and
heartbeats.

Each stream is an asyncio transport on both sides (`stream.py`): on the main, the TLS client of
whatever reaches the peer's listener runs on it; on the peer, that listener's own server. Only
the main opens streams (`open`); the peer's `accept` decides whether the named listener
exists and hands it the stream. Each direction of a stream may have at most `WINDOW` bytes in
flight, granted back as the receiving side hands them on, so a stream whose reader is slow (a
bulk transfer to a slow client) stops only itself, never the link or the other streams.

Heartbeats: each side sends a ping every `heartbeat_s`; a link from which nothing arrived for
`DEAD_AFTER_S` is dead (`run` returns), which both sides see within 15 s.
"""

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from pamnode.core.errors import PeerFailure
from pamnode.link.stream import Kind, LinkBroken, StreamTransport

log = logging.getLogger("pamnode.link")

_HEADER = struct.Struct("!BI")
_STAMP = struct.Struct("!d")
HEARTBEAT_S = 4.0
# Silence after which a link is dead: checked every second, so seen within 12 s.
DEAD_AFTER_S = 11.0
OPEN_TIMEOUT_S = 10.0


class Channel(Protocol):
    """The link's message channel (a WebSocket on either side)."""

    async def send(self, frame: bytes) -> None: ...

    async def receive(self) -> bytes | None:
        """The next binary message; None once the channel closed."""

    async def close(self, reason: str) -> None: ...


# The peer's side: hand the stream to the listener it names (which sets its protocol), or
# raise PeerFailure to refuse it.
Accept = Callable[[str, StreamTransport], Awaitable[None]]


class Mux:
    def __init__(
        self,
        channel: Channel,
        accept: Accept | None = None,
        on_heartbeat: Callable[[float], None] | None = None,
        heartbeat_s: float = HEARTBEAT_S,
        dead_after_s: float = DEAD_AFTER_S,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self._channel = channel
        self._accept = accept
        self._on_heartbeat = on_heartbeat
        self._heartbeat_s = heartbeat_s
        self._dead_after_s = dead_after_s
        # What each stream tells of where it comes from (`get_extra_info`, e.g. peername).
        self._extra = extra or {}
        self._streams: dict[int, StreamTransport] = {}
        # Streams the main opened and the peer has not answered yet.
        self._opening: dict[int, asyncio.Future[None]] = {}
        self._next_sid = 1
        self._send_lock = asyncio.Lock()
        self._last_heard = time.monotonic()
        self._closed = asyncio.Event()
        # Streams being accepted, and the CLOSEs of opens cancelled here.
        self._background: set[asyncio.Task[None]] = set()
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
            for task in [*tasks, *self._background]:
                task.cancel()
            await asyncio.gather(*tasks, *self._background, return_exceptions=True)
            lost = ConnectionError(self.close_reason or "the link closed")
            for opening in self._opening.values():
                if not opening.done():
                    opening.set_exception(
                        PeerFailure("the link closed before the stream opened", code="link_down")
                    )
            for stream in list(self._streams.values()):
                stream.lost(lost)
            with contextlib.suppress(Exception):
                await self._channel.close(self.close_reason or "link closed")

    def close(self, reason: str) -> None:
        """End the link (e.g. its enrolment was revoked): `run` returns."""
        self.close_reason = reason
        self._closed.set()

    async def open(self, listener: str) -> StreamTransport:
        """A stream to the peer's `listener`, open; PeerFailure when the peer refuses it or
        does not answer."""
        if self.ended:
            raise PeerFailure("the link closed before the stream opened", code="link_down")
        sid = self._next_sid
        self._next_sid += 2
        stream = self._stream(sid)
        opened = self._opening[sid] = asyncio.get_running_loop().create_future()
        try:
            await self._send(Kind.OPEN, sid, listener.encode())
            await asyncio.wait_for(opened, OPEN_TIMEOUT_S)
        except TimeoutError:
            self._forget(sid)
            await self._send_quietly(Kind.CLOSE, sid)
            raise PeerFailure(
                f"the peer did not open its {listener} within {OPEN_TIMEOUT_S:.0f} s",
                code="link_stream_refused",
            ) from None
        except BaseException:
            # Cancelled (a caller's deadline passed): the peer may have opened its end, or
            # may yet. Told now, it lets that end go instead of holding it until its own
            # handshake's timeout. A CLOSE for a stream it never saw, it ignores.
            self._forget(sid)
            if not self.ended:
                self._in_background(self._send_quietly(Kind.CLOSE, sid))
            raise
        finally:
            self._opening.pop(sid, None)
        stream.start()
        return stream

    def _stream(self, sid: int) -> StreamTransport:
        async def send(kind: Kind, payload: bytes) -> None:
            await self._send(kind, sid, payload)

        stream = StreamTransport(sid, send, self._forget, dict(self._extra))
        self._streams[sid] = stream
        return stream

    def _forget(self, sid: int) -> None:
        self._streams.pop(sid, None)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_quietly(self, kind: Kind, sid: int) -> None:
        # The link may break meanwhile; then there is nothing left to tell.
        with contextlib.suppress(ConnectionError):
            await self._send(kind, sid)

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
            self._on_open(sid, payload)
            return
        opening = self._opening.get(sid)
        if opening is not None and not opening.done():
            if kind == Kind.ACCEPT:
                opening.set_result(None)
            elif kind == Kind.CLOSE:
                reason = payload.decode("utf-8", "replace")[:300] or "refused"
                opening.set_exception(
                    PeerFailure(
                        f"the peer refused the stream: {reason}", code="link_stream_refused"
                    )
                )
            return
        stream = self._streams.get(sid)
        if stream is None:
            # A stream that ended here meanwhile: its last frames cross our CLOSE.
            return
        if kind == Kind.DATA:
            stream.received(payload)
        elif kind == Kind.WINDOW:
            stream.granted(payload)
        elif kind == Kind.CLOSE:
            stream.remote_closed()
        elif kind != Kind.ACCEPT:
            raise LinkBroken(f"unknown frame kind {kind}")

    def _on_open(self, sid: int, payload: bytes) -> None:
        # Stream ids the main opens are odd; a peer never opens one (it has no `accept` there).
        if self._accept is None or sid % 2 == 0 or sid in self._streams:
            raise LinkBroken(f"stream {sid} opened by the wrong side")
        stream = self._stream(sid)
        self._in_background(self._accepting(stream, payload.decode("utf-8", "replace")))

    async def _accepting(self, stream: StreamTransport, listener: str) -> None:
        assert self._accept is not None
        try:
            await self._accept(listener, stream)
        except PeerFailure as exc:
            self._forget(stream.sid)
            await self._send(Kind.CLOSE, stream.sid, exc.message.encode()[:300])
            return
        await self._send(Kind.ACCEPT, stream.sid)
        stream.start()

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
