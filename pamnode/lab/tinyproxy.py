"""A real HTTP proxy (Debian's tinyproxy) on loopback, for a peer whose only way out is
`https_proxy`: it allows CONNECT to the ports it is given and logs every CONNECT it carries."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from pamnode.lab import LabUnavailable
from pamnode.lab.server import OneProcessServer

TINYPROXY = Path("/usr/bin/tinyproxy")
START_TIMEOUT_S = 10.0


class TinyProxy(OneProcessServer):
    PREFIX = "pamnode-tinyproxy-"
    LOG = "tinyproxy.log"

    def __init__(self, address: str, port: int, connect_ports: list[int]) -> None:
        super().__init__(address, port)
        self.connect_ports = connect_ports

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def _require(self) -> None:
        if not TINYPROXY.exists():
            raise LabUnavailable("tinyproxy is not installed (apt-get install tinyproxy)")

    def _setup(self) -> None:
        conf = self._path("tinyproxy.conf")
        lines = [
            f"Port {self.port}",
            f"Listen {self.address}",
            "Timeout 600",
            f"Allow {self.address}",
            "MaxClients 100",
            # Connect: one line per CONNECT, which the tests read.
            "LogLevel Connect",
            *(f"ConnectPort {port}" for port in self.connect_ports),
        ]
        conf.write_text("\n".join(lines) + "\n")
        self._launch([str(TINYPROXY), "-d", "-c", str(conf)])
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise self._not_started("tinyproxy")
            try:
                socket.create_connection((self.address, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise self._not_started("tinyproxy")
