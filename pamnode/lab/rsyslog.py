"""A real rsyslog collector (Debian's rsyslogd) on loopback: TCP syslog in (imtcp, which reads
RFC 6587 octet-counted frames), each message appended to a file, for the audit stream's tests.
It can be stopped and started again on the same port, appending to the same file."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from pamnode.lab import LabUnavailable
from pamnode.lab.server import OneProcessServer

RSYSLOGD = Path("/usr/sbin/rsyslogd")
START_TIMEOUT_S = 15.0
# What the file keeps of each message: its MSGID (the action), its structured data and its
# message (the row as JSON), one line each.
TEMPLATE = '"%msgid% %structured-data% %msg%\\n"'


class RsyslogServer(OneProcessServer):
    PREFIX = "pamnode-rsyslog-"
    LOG = "rsyslogd.log"

    @property
    def received_path(self) -> Path:
        return self._path("received.log")

    def received(self) -> list[str]:
        return self._read("received.log").splitlines()

    def _require(self) -> None:
        if not RSYSLOGD.exists():
            raise LabUnavailable(f"{RSYSLOGD} is not installed (Debian package rsyslog)")

    def _config(self) -> str:
        assert self.dir is not None
        return f"""
global(workDirectory="{self.dir / "work"}")
module(load="imtcp")
template(name="pamnode" type="string" string={TEMPLATE})
ruleset(name="pamnode") {{
  action(type="omfile" file="{self.received_path}" template="pamnode"
         flushOnTXEnd="on" asyncWriting="off")
}}
input(type="imtcp" address="{self.address}" port="{self.port}" ruleset="pamnode")
"""

    def _setup(self) -> None:
        assert self.dir is not None
        (self.dir / "work").mkdir()
        (self.dir / "rsyslog.conf").write_text(self._config())
        self.start_again()

    def start_again(self) -> None:
        """Start rsyslogd (again, after `halt`) and wait until it accepts connections."""
        assert self.dir is not None
        self._launch(
            [
                str(RSYSLOGD),
                "-n",
                "-f",
                str(self.dir / "rsyslog.conf"),
                "-i",
                str(self.dir / "rsyslogd.pid"),
            ]
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise self._not_started("rsyslogd")
            try:
                socket.create_connection((self.address, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise self._not_started("rsyslogd")

    def halt(self) -> None:
        """Stop rsyslogd (SIGTERM: it closes its connections), keeping what it received."""
        self._stop_processes()
