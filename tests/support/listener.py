"""A TCP server that stands for a host a secret or a stream must never reach."""

from __future__ import annotations

import socket
import threading


class Listener:
    """A TCP server that only counts who connects."""

    def __init__(self, host: str, port: int) -> None:
        self.server = socket.create_server((host, port))
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.server.close()
