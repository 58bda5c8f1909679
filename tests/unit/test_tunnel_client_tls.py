"""The lab's tunnel client never has two threads inside OpenSSL on its connection.

websockets' sync client reads in a thread of its own while the caller writes. On a plain
`ssl.SSLSocket` that overlaps OpenSSL's read and write on one connection, which OpenSSL does
not allow: on a loaded machine the request that opens a session's tunnel was lost while the
reader took in the node's TLS 1.3 session tickets (the node then closed the silent
connection at its request-header timeout, and the test saw no HTTP answer at all).

The server here holds the reader inside a TLS record (it sends half of one, waits, sends the
rest) while the caller types: the moment a thread-unsafe client overlaps, every time. Its end
comes as the node's does, the close frame and TLS close_notify in one read.
"""

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.http11 import Request
from websockets.server import ServerProtocol

from pamnode.app.tls import ensure_self_signed
from pamnode.lab.tunnel_client import TunnelClient
from pamnode.sessions.guacamole.protocol import encode

HALF_RECORD_S = 0.5
# websockets' wait for the server's end once both sides have sent their close frames.
CLOSE_TIMEOUT_S = 10.0


@dataclass
class _Node:
    """What TunnelClient reads of a NodeProcess."""

    address: str
    port: int
    cert_path: Path


class _Overlaps:
    """Counts the times a TLS object was entered by a thread while another was inside it."""

    def __init__(self) -> None:
        self.inside: dict[int, set[int]] = {}
        self.count = 0
        self._lock = threading.Lock()

    def watch(self, monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> None:
        original: Callable[..., Any] = getattr(cls, name)

        def watched(obj: Any, *args: Any, **kwargs: Any) -> Any:
            me = threading.get_ident()
            with self._lock:
                threads = self.inside.setdefault(id(obj), set())
                self.count += bool(threads - {me})
                threads.add(me)
            try:
                return original(obj, *args, **kwargs)
            finally:
                with self._lock:
                    threads.discard(me)

        monkeypatch.setattr(cls, name, watched)


def _serve(listener: socket.socket, context: ssl.SSLContext, typed: list[bytes]) -> None:
    """One WebSocket over TLS 1.3 (memory BIOs: the test decides where records are cut)."""
    conn, _ = listener.accept()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_side=True)

    def pump() -> bytes:
        while True:
            try:
                return tls.read(65536)
            except ssl.SSLWantReadError:
                conn.sendall(outgoing.read())
                data = conn.recv(65536)
                if not data:
                    return b""
                incoming.write(data)

    with conn:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                conn.sendall(outgoing.read())
                incoming.write(conn.recv(65536))
        conn.sendall(outgoing.read())  # the Finished and the session tickets
        ws = ServerProtocol()
        events: list[Any] = []
        while not events:
            ws.receive_data(pump())
            events = ws.events_received()
        [request] = events
        assert isinstance(request, Request)
        response = ws.accept(request)
        response.headers["Sec-WebSocket-Protocol"] = "guacamole"
        ws.send_response(response)
        for data in ws.data_to_send():
            tls.write(data)
        conn.sendall(outgoing.read())  # the client is attached
        ws.send_text(encode("sync", "1").encode())
        for data in ws.data_to_send():
            tls.write(data)
        record = outgoing.read()
        conn.sendall(record[: len(record) // 2])
        time.sleep(HALF_RECORD_S)  # the client's reader waits inside this record
        conn.sendall(record[len(record) // 2 :])
        while data := pump():
            ws.receive_data(data)
            typed.extend(frame.data for frame in ws.events_received())
            for out in ws.data_to_send():
                tls.write(out)
            if ws.close_rcvd is not None:
                # As the node does: its close frame and close_notify at once, then the TCP
                # connection stays until the client ends it.
                with contextlib.suppress(ssl.SSLWantReadError):
                    tls.unwrap()
                conn.sendall(outgoing.read())
                conn.settimeout(CLOSE_TIMEOUT_S)
                while conn.recv(65536):
                    pass
                return
            conn.sendall(outgoing.read())


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[_Node, list[bytes]]]:
    cert, key = ensure_self_signed(tmp_path, "tls-test", "127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3  # its session tickets follow the handshake
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    typed: list[bytes] = []
    server = threading.Thread(target=_serve, args=(listener, context, typed), daemon=True)
    server.start()
    yield _Node("127.0.0.1", listener.getsockname()[1], cert), typed
    listener.close()
    server.join(10)


def test_the_reader_and_the_writer_never_share_openssl(node, monkeypatch):
    overlaps = _Overlaps()
    for name in ("recv", "recv_into", "send", "sendall", "read", "write"):
        overlaps.watch(monkeypatch, ssl.SSLSocket, name)
    for name in ("read", "write", "do_handshake"):
        overlaps.watch(monkeypatch, ssl.SSLObject, name)
    server, typed = node
    with TunnelClient(server, "/tunnel", "token") as client:
        # Typed while the reader thread is inside the half-sent record.
        time.sleep(HALF_RECORD_S / 2)
        client.type("x")
        seen = client.pump(10, until="sync")
        leaving = time.monotonic()
    # The server's end came with its close frame; the client saw it at once.
    assert time.monotonic() - leaving < CLOSE_TIMEOUT_S / 2
    assert seen.opcodes["sync"] == 1, seen
    assert b"".join(typed).startswith(encode("key", str(ord("x")), "1").encode()), typed
    assert overlaps.count == 0
