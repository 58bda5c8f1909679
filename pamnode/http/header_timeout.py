"""A bound on how long a connection may take to send a request's headers.

uvicorn bounds the idle time between requests (keep-alive), but not a request whose headers
never end: a client that opens TLS and sends half a request line holds a connection, and its
memory, for ever. This protocol closes a connection whose headers are not complete within
`request_header_timeout_s` of its opening or of the first byte of each request.
"""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderTimedProtocol(HttpToolsProtocol):
    header_timeout_s = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        self.transport.close()


def header_timed(timeout_s: float) -> type[HeaderTimedProtocol]:
    """The protocol class uvicorn makes each connection with (`uvicorn.run(http=...)`)."""
    return type("HeaderTimedProtocol", (HeaderTimedProtocol,), {"header_timeout_s": timeout_s})
