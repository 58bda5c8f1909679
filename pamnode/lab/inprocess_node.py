"""A lab node served in the test process: the application `pamnode serve` builds, with the
node's settings and the real executors, served by uvicorn on a real TLS port from a thread of
its own (hashicorp/boundary's `NewTestWorker` does the same for its workers).

It costs no process start (a forked `serve` spends a second or two before its first answer),
so a module of API-contract tests gets its nodes cheaply. What a test sees is what it sees of
a `NodeProcess` (served_node.py): the same HTTPS, the same certificate, database and lab
settings, the listeners `serve` starts. What it cannot give is a process: no pid to kill or
signal, no restart, no log of its own (its lines go to the test process's logging, which it
leaves as it is), and the process-wide umask `serve` sets stays the test runner's. A test of
any of those uses a `NodeProcess`.

Process-wide state: the cost of new password hashes (`identity.passwords.use_profile`) is
one per process, so nodes that serve together here must agree on `password_hash_profile`
(`start` refuses otherwise). Everything else a node holds (engines, key ring, metrics
registry, job pool, caches) is its own.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import ClassVar

import uvicorn

from pamnode.app.first_admin import make_first_admin
from pamnode.app.settings import Settings
from pamnode.http.app import create_app
from pamnode.http.https_server import server_options, with_certificate
from pamnode.lab.apart import run_apart
from pamnode.lab.ports import free_port
from pamnode.lab.schema_template import copy_migrated_sqlite
from pamnode.lab.served_node import ServedNode, lab_settings_env

START_TIMEOUT_S = 60.0
# Beyond the server's own graceful shutdown (server_options: 5 s).
STOP_TIMEOUT_S = 15.0
_POLL_S = 0.02
_ENV_PREFIX = "PAMNODE_"
# `serve`'s option that is no setting of the node (its reverse proxies).
_FORWARDED_ALLOW_IPS = "PAMNODE_FORWARDED_ALLOW_IPS"


class InProcessNode(ServedNode):
    # The nodes serving in this process, for the guard on process-wide state.
    _serving: ClassVar[list[InProcessNode]] = []

    def __init__(
        self,
        data_dir: Path,
        name: str,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        address: str = "127.0.0.1",
    ) -> None:
        super().__init__(data_dir, name, database_url, address, free_port())
        # What a `serve` process would read: its environment, the lab's settings over it.
        environment = {**os.environ, **lab_settings_env(env)}
        # And what `serve`'s command line gives (NodeProcess._start).
        given: dict[str, object] = {
            "data_dir": self.data_dir,
            "host": address,
            "port": self.port,
            "node_name": name,
            "database_url": database_url,
        }
        self.settings = _settings_of(environment, given)
        self._forwarded_allow_ips = environment.get(_FORWARDED_ALLOW_IPS) or None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, admin: tuple[str, str] | None = None) -> None:
        """Serve until `stop`, once the server listens; `admin` (login, password): the first
        start makes that administrator, as `serve --admin-login` does."""
        if self.running:
            raise RuntimeError(f"node {self.name} already serving in this process")
        self._agree_with_others()
        if self.sqlite_path is not None:
            copy_migrated_sqlite(self.sqlite_path)
        settings = with_certificate(self.settings, None, None)
        if admin is not None:
            refusal = run_apart(make_first_admin(settings, *admin))
            if refusal is not None and refusal.code != "user_exists":
                raise RuntimeError(f"node {self.name}: {refusal.message}")
        options = server_options(settings, self._forwarded_allow_ips, configure_logging=False)
        server = uvicorn.Server(uvicorn.Config(create_app(settings), **options))
        # A daemon: a node that hangs on its way out does not hold the test run with it.
        thread = threading.Thread(target=server.run, name=f"pamnode {self.name}", daemon=True)
        self._server, self._thread = server, thread
        InProcessNode._serving.append(self)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                # uvicorn logged why (a failed lifespan, a port taken) to the test's log.
                raise RuntimeError(f"node {self.name} did not start serving on {self.base_url}")
            time.sleep(_POLL_S)

    def stop(self) -> None:
        """As SIGTERM would: the server closes its connections, the application its node."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)
        if thread.is_alive():
            server.force_exit = True
            thread.join(STOP_TIMEOUT_S)
        InProcessNode._serving.remove(self)
        self._server = self._thread = None
        if thread.is_alive():
            raise RuntimeError(f"node {self.name} still serving {STOP_TIMEOUT_S * 2:.0f}s on")

    def _agree_with_others(self) -> None:
        profile = self.settings.password_hash_profile
        for other in InProcessNode._serving:
            if other.settings.password_hash_profile != profile:
                raise RuntimeError(
                    f"node {self.name} hashes passwords as {profile}, {other.name} serving in "
                    f"this process as {other.settings.password_hash_profile}: the profile is "
                    "one per process, run one of them as a NodeProcess"
                )

    def __repr__(self) -> str:
        state = "serving" if self.running else "stopped"
        return f"<InProcessNode {self.name} {self.base_url} {state}>"


def _settings_of(environment: dict[str, str], given: dict[str, object]) -> Settings:
    """The settings of a node started with this environment and `given` on its command line
    (pydantic-settings reads only the process's own environment, which the lab leaves be)."""
    named = {
        key.removeprefix(_ENV_PREFIX).lower(): value
        for key, value in environment.items()
        if key.startswith(_ENV_PREFIX)
    }
    read = {name: named[name] for name in Settings.model_fields if name in named}
    return Settings(**{**read, **given})  # type: ignore[arg-type]
