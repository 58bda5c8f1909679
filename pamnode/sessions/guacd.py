"""This node's guacd: started on first use, on a free loopback port, as a child of the node.

guacd has no authentication, so it never listens beyond loopback; sessions reach it only
through this node (the main's own route, or the gateway front that checks a ticket first).
"""

import asyncio
import contextlib
import shutil
import socket
import subprocess
from pathlib import Path

from pamnode.core.errors import Unavailable
from pamnode.sessions.guacamole.stream import GuacStream

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Guacd:
    def __init__(self, command: str, log_path: Path) -> None:
        self.command = command
        self.log_path = log_path
        self.port: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}" if self.port else "127.0.0.1 (guacd not started)"

    async def connect(self) -> GuacStream:
        await self._ensure_started()
        assert self.port is not None
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        return GuacStream(reader, writer)

    async def _ensure_started(self) -> None:
        async with self._lock:
            if self._proc is not None and self._proc.returncode is None:
                return
            binary = shutil.which(self.command)
            if binary is None:
                raise Unavailable(
                    f"guacd ('{self.command}') is not installed on this node, so it cannot carry "
                    "remote sessions: install Debian's guacd (see the README)",
                    code="guacd_missing",
                )
            port = _free_loopback_port()
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as log:
                self._proc = await asyncio.create_subprocess_exec(
                    binary,
                    *("-f", "-b", "127.0.0.1", "-l", str(port), "-L", "info"),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            await self._wait_listening(port)
            self.port = port

    async def _wait_listening(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        assert self._proc is not None
        while loop.time() < deadline:
            if self._proc.returncode is not None:
                break
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise Unavailable(
            f"guacd did not start listening on 127.0.0.1:{port}; see {self.log_path}",
            code="guacd_missing",
        )

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
