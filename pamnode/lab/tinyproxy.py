"""A real HTTP proxy (Debian's tinyproxy) on loopback, for a peer whose only way out is
`https_proxy`: it allows CONNECT to the ports it is given and logs every CONNECT it carries."""

from __future__ import annotations

import time
from pathlib import Path

from pamnode.lab import LabUnavailable
from pamnode.lab.server import OneProcessServer

TINYPROXY = Path("/usr/bin/tinyproxy")
START_TIMEOUT_S = 10.0


class TinyProxy(OneProcessServer):
    PREFIX = "pamnode-tinyproxy-"
    LOG = "tinyproxy.log"

    def __init__(
        self,
        address: str,
        port: int,
        connect_ports: list[int],
        allow: str | None = None,
        netns: str | None = None,
    ) -> None:
        super().__init__(address, port, netns)
        self.connect_ports = connect_ports
        # Who may use it (an address or network); its own address by default.
        self.allow = allow or address

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
            f"Allow {self.allow}",
            "MaxClients 100",
            # Info: one line per CONNECT, which the tests read, and the one that says it
            # listens (which works inside a namespace, where this process cannot connect).
            "LogLevel Info",
            *(f"ConnectPort {port}" for port in self.connect_ports),
        ]
        conf.write_text("\n".join(lines) + "\n")
        argv = [str(TINYPROXY), "-d", "-c", str(conf)]
        since = self._launch(["ip", "netns", "exec", self.netns, *argv] if self.netns else argv)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise self._not_started("tinyproxy")
            if "Accepting connections" in self.log_text()[since:]:
                return
            time.sleep(0.1)
        raise self._not_started("tinyproxy")
