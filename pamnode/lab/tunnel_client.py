"""A program's client of a session's tunnel: the main's WebSocket, spoken in Guacamole.

It does what guacamole-common-js does for a terminal: answers `sync`, types keys, and reads
until told to stop; what it saw is kept for the caller (a test, the demo, a benchmark).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, cast

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from pamnode.lab.node_process import NodeProcess, tls_context
from pamnode.lab.serial_tls import SerialTls
from pamnode.sessions.guacamole.protocol import Instruction, Scanner, encode

OPEN_TIMEOUT_S = 30.0
# X11 keysyms guacd's terminal understands for the keys a test types.
RETURN = 0xFF0D


@dataclass
class Seen:
    uuid: str = ""
    opcodes: Counter[str] = field(default_factory=Counter)
    errors: list[tuple[str, ...]] = field(default_factory=list)
    close_reason: str = ""
    # The main closed the tunnel (the session ended on its side).
    closed: bool = False


class TunnelClient:
    """Use as a context manager: leaving it disconnects the session and closes the socket."""

    def __init__(self, node: NodeProcess, tunnel: str, token: str, **display: Any) -> None:
        query = "&".join(f"{k}={v}" for k, v in {"width": 1024, "height": 768, **display}.items())
        self._address = (node.address, node.port)
        # Plain ws:// to websockets: the socket it is given speaks TLS already (SerialTls).
        self._url = f"ws://{node.address}:{node.port}{tunnel}?{query}"
        self._context = tls_context(node.cert_path)
        self._token = token
        self._stack = contextlib.ExitStack()
        self.seen = Seen()
        self._scanner = Scanner()

    def __enter__(self) -> TunnelClient:
        sock = socket.create_connection(self._address, timeout=OPEN_TIMEOUT_S)
        try:
            tls = SerialTls(sock, self._context, self._address[0])
        except BaseException:
            sock.close()
            raise
        tls.settimeout(None)
        self.ws: ClientConnection = self._stack.enter_context(
            connect(
                self._url,
                sock=cast(socket.socket, tls),
                additional_headers={"Authorization": f"Bearer {self._token}"},
                subprotocols=["guacamole"],  # type: ignore[list-item]
                open_timeout=OPEN_TIMEOUT_S,
            )
        )
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(ConnectionClosed):
            self.ws.send(encode("disconnect"))
        self._stack.close()

    def pump(self, seconds: float, until: str | None = None) -> Seen:
        """Read for up to `seconds`, or until an instruction with opcode `until`, or the end."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.seen.closed:
            try:
                message = self.ws.recv(timeout=max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                continue
            except ConnectionClosed as closed:
                self.seen.close_reason = closed.rcvd.reason if closed.rcvd else ""
                self.seen.closed = True
                break
            assert isinstance(message, str)
            self._scanner.feed(message)
            try:
                found = self._handle(self._scanner.take())
            except ConnectionClosed as closed:
                # The main closed the tunnel while this client answered a sync, as a
                # browser's answer can cross the close.
                self.seen.close_reason = closed.rcvd.reason if closed.rcvd else ""
                self.seen.closed = True
                break
            if until is not None and until in found:
                break
        return self.seen

    def settle(self, quiet_s: float, at_most_s: float) -> Seen:
        """Read until the display has drawn nothing for `quiet_s` (the shell has printed its
        banner and prompt), or for `at_most_s` at most."""
        deadline = time.monotonic() + at_most_s
        while time.monotonic() < deadline and not self.seen.closed:
            drawn = self._drawn()
            self.pump(min(quiet_s, max(0.0, deadline - time.monotonic())))
            if self._drawn() == drawn:
                break
        return self.seen

    def _drawn(self) -> int:
        return sum(n for opcode, n in self.seen.opcodes.items() if opcode not in ("sync", "nop"))

    def _handle(self, instructions: list[Instruction]) -> set[str]:
        found = set()
        for instruction in instructions:
            found.add(instruction.opcode)
            self.seen.opcodes[instruction.opcode] += 1
            if instruction.opcode == "" and not self.seen.uuid:
                self.seen.uuid = instruction.args[0]
            elif instruction.opcode == "sync":
                self.ws.send(encode("sync", instruction.args[0]))
            elif instruction.opcode == "error":
                self.seen.errors.append(instruction.args)
        return found

    def type(self, text: str) -> None:
        for char in text:
            keysym = str(RETURN if char == "\n" else ord(char))
            self.ws.send(encode("key", keysym, "1") + encode("key", keysym, "0"))


# Keys typed before guacd's SSH channel is open are lost, and nothing drawn says when the
# shell is ready (the text is in images): so the command waits until the display is quiet
# (CI once lost "hostname; " typed while the banner was drawn), ends with `exit`, and is
# typed again if the session has not ended on its own within a while.
QUIET_S = 1.0
TRIES = 3
TRY_S = 10.0


def run_command(node: NodeProcess, token: str, tunnel: str, command: str) -> Seen:
    """Attach, type `command; exit` once the terminal draws, read until the session ends."""
    with TunnelClient(node, tunnel, token) as client:
        client.pump(15, until="sync")
        client.settle(QUIET_S, 15)
        for _ in range(TRIES):
            client.type(f"{command}; exit\n")
            client.pump(TRY_S, until="disconnect")
            if client.seen.opcodes["disconnect"] or client.seen.closed:
                break
        return client.seen
