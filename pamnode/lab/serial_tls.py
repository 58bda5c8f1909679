"""A TLS client connection that two threads may use at once, one OpenSSL call at a time.

websockets' synchronous client reads in a thread of its own while the caller's thread writes.
On one `ssl.SSLSocket` that runs OpenSSL's read and write on the same connection at the same
time, which OpenSSL does not allow. A TLS 1.3 server sends its session tickets just after the
handshake, while the client writes its HTTP request: on a loaded machine the reader thread,
taking in the tickets, and the writer can interleave so that the request never leaves the
client (seen on the wire: the client's Finished, the server's tickets, then nothing until the
node's request-header timeout closed the connection).

Here OpenSSL only works on memory buffers, under one lock, and never waits; only the plain
socket waits, outside the lock. Bytes OpenSSL produces are sent in the order it produced them.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from typing import Any

_CHUNK = 65536


class SerialTls:
    """Socket-like: what websockets' sync client calls on the socket it is given."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, hostname: str) -> None:
        self._sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=hostname)
        # Held for every call into OpenSSL (self._tls).
        self._openssl = threading.Lock()
        # Held from taking OpenSSL's output until it is on the socket: records stay in order.
        self._sending = threading.Lock()
        self.family = sock.family
        self._ended = False
        while not self._handshake_step():
            self._receive()

    def recv(self, bufsize: int) -> bytes:
        """What the server sent, decrypted (b"" at its end); waits for one record at least.
        Returns all that is decrypted, even beyond `bufsize`: the caller waits for the plain
        socket to be readable before it calls, and bytes held inside OpenSSL would not wake it."""
        while not self._ended:
            data, self._ended = self._decrypted()
            self._flush()
            if data or self._ended:
                if data and self._ended:
                    # The server's end came with the data and nothing may follow it: shutting
                    # the reading side makes the socket readable, so the caller calls again
                    # and sees the end.
                    with contextlib.suppress(OSError):
                        self._sock.shutdown(socket.SHUT_RD)
                return data
            self._ended = not self._receive()
        return b""

    def sendall(self, data: bytes) -> None:
        with self._sending:
            with self._openssl:
                self._tls.write(data)
                out = self._outgoing.read()
            self._sock.sendall(out)

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def setsockopt(self, *args: Any) -> None:
        self._sock.setsockopt(*args)

    def fileno(self) -> int:
        return self._sock.fileno()

    def getsockname(self) -> Any:
        return self._sock.getsockname()

    def getpeername(self) -> Any:
        return self._sock.getpeername()

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def close(self) -> None:
        self._sock.close()

    def _handshake_step(self) -> bool:
        """False while the handshake needs more from the server."""
        try:
            with self._openssl:
                self._tls.do_handshake()
        except ssl.SSLWantReadError:
            return False
        finally:
            self._flush()
        return True

    def _decrypted(self) -> tuple[bytes, bool]:
        """All OpenSSL can decrypt now, and whether the server's end (or EOF) came with it."""
        data = bytearray()
        with self._openssl:
            try:
                while chunk := self._tls.read(_CHUNK):
                    data += chunk
            except ssl.SSLWantReadError:
                return bytes(data), False
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                pass
        return bytes(data), True

    def _receive(self) -> bool:
        """Wait for bytes from the server (outside the lock); False at its end."""
        chunk = self._sock.recv(_CHUNK)
        with self._openssl:
            if chunk:
                self._incoming.write(chunk)
            else:
                self._incoming.write_eof()
        return bool(chunk)

    def _flush(self) -> None:
        """Send what OpenSSL wrote for the connection itself (handshake, alerts)."""
        with self._sending:
            with self._openssl:
                out = self._outgoing.read()
            if out:
                self._sock.sendall(out)
