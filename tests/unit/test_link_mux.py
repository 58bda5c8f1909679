"""The link's stream multiplexer between two in-process ends: streams carried both ways, a
stalled stream that stops only itself, TLS end to end inside a stream with no socket, refusals,
a silent link seen dead, a peer that tries to open a stream refused, and the reconnect's
full-jitter backoff."""

from __future__ import annotations

import asyncio
import random
import ssl

import pytest

from pamnode.app.tls import certificate_der, ensure_self_signed, server_context
from pamnode.core.errors import PeerFailure
from pamnode.core.streams import Pair, stream_pair, tls_over
from pamnode.link.mux import Mux
from pamnode.link.stream import WINDOW, StreamTransport
from pamnode.link.uplink import backoff_delay
from pamnode.peers.trust import pinned_context


class _End:
    """One end of an in-memory link; `mute` stops it from sending (a cut cable)."""

    def __init__(self, inbox: asyncio.Queue, outbox: asyncio.Queue) -> None:
        self.inbox, self.outbox, self.mute = inbox, outbox, False

    async def send(self, frame: bytes) -> None:
        if not self.mute:
            await self.outbox.put(frame)

    async def receive(self) -> bytes | None:
        return await self.inbox.get()

    async def close(self, reason: str) -> None:
        await self.outbox.put(None)


def _ends() -> tuple[_End, _End]:
    # Bounded like a socket's buffers: a sender that outruns the other side waits.
    one, two = asyncio.Queue(maxsize=16), asyncio.Queue(maxsize=16)
    return _End(one, two), _End(two, one)


class _Listeners:
    """The peer's side: 'echo' answers what it reads, 'sink' never reads, 'slow' is a sink
    that opens when `opening` is set, others refused."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.opening = asyncio.Event()
        # Held: asyncio keeps only a weak reference to a task, and a collected echo closed
        # its stream mid-test (the stream then read as ended).
        self.echoes: list[asyncio.Task[None]] = []
        self.sinks: list[Pair] = []

    async def accept(self, name: str, stream: StreamTransport) -> None:
        if name == "tls-echo" and self.tls is not None:
            # As the peer's TLS listeners take a stream: the handshake runs once it is open.
            self.echoes.append(asyncio.create_task(self._tls_echo(stream, self.tls)))
            return
        if name not in ("echo", "sink", "slow"):
            raise PeerFailure(f"this peer has no listener '{name}'", code="link_stream_refused")
        if name == "slow":
            await self.opening.wait()
        reader, writer = stream_pair(stream)
        if name in ("sink", "slow"):
            self.sinks.append((reader, writer))
            return
        self.echoes.append(asyncio.get_running_loop().create_task(_echo(reader, writer)))

    async def _tls_echo(self, stream: StreamTransport, tls: ssl.SSLContext) -> None:
        await _echo(*await tls_over(stream, tls, server_side=True))


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


@pytest.fixture
def listeners() -> _Listeners:
    return _Listeners()


@pytest.fixture
async def link(listeners):
    main_end, peer_end = _ends()
    main, peer = Mux(main_end), Mux(peer_end, accept=listeners.accept)
    runs = [asyncio.create_task(main.run()), asyncio.create_task(peer.run())]
    yield main, peer, main_end, runs
    main.close("test over")
    peer.close("test over")
    await asyncio.gather(*runs, return_exceptions=True)


async def _open(main: Mux, name: str) -> Pair:
    return stream_pair(await main.open(name))


async def test_a_stalled_stream_does_not_stop_another(link):
    main, peer, _, runs = link
    _, into_sink = await _open(main, "sink")
    # Far more than the window and the socket buffers: the sink's side stops it.
    into_sink.write(b"x" * (8 * WINDOW))
    await asyncio.sleep(0.5)
    reader, writer = await _open(main, "echo")
    for n in range(20):
        writer.write(b"keystroke %d\n" % n)
        line = await asyncio.wait_for(reader.readline(), 2)
        assert line == b"keystroke %d\n" % n
    assert not any(run.done() for run in runs)
    # What the sink's stream holds in flight never passes its window.
    assert all(stream.unhanded <= WINDOW for stream in peer._streams.values())
    assert into_sink.transport.get_write_buffer_size() > 0


async def test_a_bulk_stream_arrives_whole(link):
    main, *_ = link
    reader, writer = await _open(main, "echo")
    payload = random.randbytes(3 * WINDOW + 123)
    writer.write(payload)
    echoed = await asyncio.wait_for(reader.readexactly(len(payload)), 10)
    assert echoed == payload


async def test_tls_runs_end_to_end_inside_a_stream(tmp_path):
    cert, key = ensure_self_signed(tmp_path, "peer-x", "127.0.0.1")
    main_end, peer_end = _ends()
    main = Mux(main_end)
    peer = Mux(peer_end, accept=_Listeners(server_context(cert, key)).accept)
    runs = [asyncio.create_task(main.run()), asyncio.create_task(peer.run())]
    try:
        pem = ssl.DER_cert_to_PEM_cert(certificate_der(cert))
        reader, writer = await tls_over(
            await main.open("tls-echo"), pinned_context(pem), server_hostname="peer-x"
        )
        # The main's client sees the peer listener's own certificate: the link reads nothing.
        presented = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        assert presented == certificate_der(cert)
        payload = random.randbytes(2 * 1024 * 1024 + 7)
        writer.write(payload)
        assert await asyncio.wait_for(reader.readexactly(len(payload)), 20) == payload
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 5)
        # Closed on the main: the peer's stream ended too, and neither side holds it.
        for _ in range(50):
            if not main._streams and not peer._streams:
                break
            await asyncio.sleep(0.05)
        assert not main._streams and not peer._streams
    finally:
        main.close("test over")
        peer.close("test over")
        await asyncio.gather(*runs, return_exceptions=True)


async def test_a_listener_the_peer_lacks_is_refused(link):
    main, *_ = link
    with pytest.raises(PeerFailure) as refused:
        await _open(main, "10.0.0.1:22")
    assert refused.value.code == "link_stream_refused"
    assert "no listener '10.0.0.1:22'" in refused.value.message


async def test_an_open_the_main_gives_up_is_let_go_by_the_peer(link, listeners):
    """A caller's deadline cancels the open while the peer is still opening its end: the
    peer is told, and its end closes once open, instead of waiting for its own timeout."""
    main, *_ = link
    opening = asyncio.create_task(main.open("slow"))
    await asyncio.sleep(0.05)
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    listeners.opening.set()
    await asyncio.sleep(0.05)
    ((reader, _),) = listeners.sinks
    assert await asyncio.wait_for(reader.read(), 1) == b""
    # The link itself carries on.
    reader, writer = await _open(main, "echo")
    writer.write(b"still here")
    assert await asyncio.wait_for(reader.readexactly(10), 1) == b"still here"


async def test_a_silent_link_is_seen_dead():
    main_end, peer_end = _ends()
    main = Mux(main_end, heartbeat_s=0.1, dead_after_s=0.5)
    peer = Mux(peer_end, accept=_Listeners().accept, heartbeat_s=0.1, dead_after_s=0.5)
    peer_run = asyncio.create_task(peer.run())
    main_run = asyncio.create_task(main.run())
    await asyncio.sleep(0.3)
    assert not main_run.done()
    peer_end.mute = True
    await asyncio.wait_for(main_run, 2)
    assert "nothing heard" in main.close_reason
    peer.close("test over")
    await peer_run


async def test_a_peer_cannot_open_a_stream_on_the_main():
    main_end, peer_end = _ends()
    main = Mux(main_end)
    run = asyncio.create_task(main.run())
    # The peer's side sends OPEN for stream 1 (only the main opens streams).
    await peer_end.send(bytes([1]) + (1).to_bytes(4, "big") + b"api")
    await asyncio.wait_for(run, 2)
    assert "opened by the wrong side" in main.close_reason


def test_backoff_is_full_jitter_and_capped():
    rng = random.Random(7)
    first = [backoff_delay(1, 60, rng) for _ in range(200)]
    late = [backoff_delay(20, 60, rng) for _ in range(200)]
    assert all(0 <= d <= 2 for d in first) and max(first) > 1.5
    assert all(0 <= d <= 60 for d in late) and max(late) > 50 and min(late) < 10


class _Recorder(asyncio.Protocol):
    """A protocol that notes what a stream hands it; `keep` is its answer to the EOF."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.events: list[str] = []

    def data_received(self, data: bytes) -> None:
        self.events.append(f"data {data.decode()}")

    def eof_received(self) -> bool:
        self.events.append("eof")
        return self.keep

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")


def _bare_stream() -> tuple[StreamTransport, list[int], list[int]]:
    sent: list[int] = []
    forgotten: list[int] = []

    async def send(kind, payload: bytes) -> None:
        sent.append(kind)

    return StreamTransport(1, send, forgotten.append, {}), sent, forgotten


@pytest.mark.parametrize("keep", [True, False])
async def test_a_protocol_that_keeps_the_stream_at_the_other_sides_close_closes_it_itself(keep):
    # asyncio's contract, which its TLS layer relies on: a true answer to eof_received keeps
    # the transport (the TLS layer still holds records its paused reader has not taken).
    stream, sent, forgotten = _bare_stream()
    protocol = _Recorder(keep)
    stream.set_protocol(protocol)
    stream.start()
    stream.received(b"tail")
    stream.remote_closed()
    await asyncio.sleep(0.05)
    if keep:
        assert protocol.events == ["data tail", "eof"] and forgotten == []
        stream.write(b"to nobody")  # the other side is gone: dropped, never sent
        stream.close()
        await asyncio.sleep(0.05)
    assert protocol.events == ["data tail", "eof", "lost"]
    assert forgotten == [1]
    # Nothing goes back for a stream the other side closed: no data, no close of ours.
    assert sent == []


async def test_a_protocol_given_to_an_ended_stream_still_learns_it_ended():
    stream, _, _ = _bare_stream()
    stream.lost(ConnectionError("the link closed"))
    protocol = _Recorder(keep=False)
    stream.set_protocol(protocol)
    await asyncio.sleep(0.01)
    assert protocol.events == ["lost"]
