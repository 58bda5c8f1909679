"""A throwaway PostgreSQL cluster for tests, started from the local server binaries."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import asyncpg

from pamnode.lab import LabUnavailable
from pamnode.lab.apart import run_apart
from pamnode.lab.ports import free_port
from pamnode.lab.schema_template import migrate

T = TypeVar("T")

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SUPERUSER = "postgres"
# Room /dev/shm must have free for a cluster to live there: a shard's cluster grows by about
# 9 MiB for each database a test makes (the suite's shards make a few hundred between them).
_SHM_ROOM = 4 << 30
_SHM = "/dev/shm"
# In a cluster's folder: the pid of the test process that made it (_sweep_orphans).
_OWNER = "owner.pid"


class PgToolError(RuntimeError):
    pass


def _missing(reason: str) -> NoReturn:
    raise LabUnavailable(f"PostgreSQL: {reason}")


def find_bin_dir() -> Path | None:
    """The directory holding initdb/pg_ctl/psql, or None if no server is installed."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        # Debian exposes symlinks in /usr/local/bin or wrappers; psql and postgres
        # must come from the same major version, so use the real directory.
        real = Path(initdb).resolve().parent
        if (real / "pg_ctl").exists():
            return real
    candidates = [
        p
        for p in Path("/usr/lib/postgresql").glob("*/bin")
        if (p / "initdb").exists() and (p / "pg_ctl").exists()
    ]

    def major(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    return max(candidates, key=major) if candidates else None


def _scratch_dir() -> str:
    """Where a throwaway cluster keeps its files: in memory (/dev/shm) when the machine has
    room there, because each CREATE DATABASE makes and copies about a thousand small files,
    and on this machine's disk that took 0.4 s of kernel CPU each against 0.03 s in memory.
    Containers often give /dev/shm only 64 MiB, and a tmpfs can be larger than the memory
    free, so the disk stays the fallback."""
    try:
        shm = os.statvfs(_SHM)
    except OSError:
        return "/tmp"
    if shm.f_bavail * shm.f_frsize < _SHM_ROOM or _available_memory() < _SHM_ROOM:
        return "/tmp"
    _sweep_orphans(Path(_SHM))
    return _SHM


def _available_memory() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def _sweep_orphans(scratch: Path) -> None:
    """Remove the clusters whose test process is gone (killed before its teardown): in
    memory, what they hold would otherwise stay taken until the machine restarts."""
    for root in scratch.glob("pamnode-pg-*"):
        try:
            owner = int((root / _OWNER).read_text())
        except (OSError, ValueError):
            continue  # being made right now, or not ours
        if _alive(owner):
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster = int((root / "data" / "postmaster.pid").read_text().split()[0])
            # Only if that pid is still this cluster's server, not a process that reused it.
            if str(root).encode() in Path(f"/proc/{postmaster}/cmdline").read_bytes():
                os.kill(postmaster, signal.SIGQUIT)  # the postmaster's immediate shutdown
        shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PostgresCluster:
    """initdb + pg_ctl in a temp dir, listening only on 127.0.0.1 with trust auth."""

    def __init__(self) -> None:
        self.bin_dir: Path | None = None
        self.root: Path | None = None
        self.port: int | None = None
        self._as_postgres: list[str] = []
        self._db_counter = 0
        self._schema_template: str | None = None

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root / "server.log"

    def start(self) -> PostgresCluster:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            _missing("initdb/pg_ctl not on PATH nor under /usr/lib/postgresql/*/bin")
        assert bin_dir is not None
        self.bin_dir = bin_dir

        if os.geteuid() == 0:
            # The server refuses to run as root, so it runs as the system user.
            try:
                pwd.getpwnam(_SUPERUSER)
            except KeyError:
                _missing(f"running as root but no {_SUPERUSER!r} system user exists")
            runuser = shutil.which("runuser")
            if runuser:
                self._as_postgres = [runuser, "-u", _SUPERUSER, "--"]
            else:
                _missing("running as root but runuser is not installed")

        # Short path: the Unix socket path must fit in 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="pamnode-pg-", dir=_scratch_dir()))
        self.root.chmod(0o700)
        (self.root / _OWNER).write_text(str(os.getpid()))
        if self._as_postgres:
            ent = pwd.getpwnam(_SUPERUSER)
            os.chown(self.root, ent.pw_uid, ent.pw_gid)

        try:
            self._pg(
                "initdb",
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                _SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            self._start_on_free_port()
        except BaseException:
            self._remove_root()
            raise
        return self

    def _start_on_free_port(self) -> None:
        last: PgToolError | None = None
        # free_port() can lose a race with another process; retry on a new port.
        for _ in range(3):
            port = free_port()
            # Several nodes on one database (tests/integration/test_several_mains.py) each
            # keep a request pool and a job pool: more than the default 100 connections.
            # Each database copied from the template writes its ~9 MiB to the write-ahead
            # log; a checkpoint every 64 MiB keeps that log from growing to its default
            # 1 GiB, in memory (_scratch_dir).
            opts = (
                f"-h 127.0.0.1 -p {port} -k {self.root} -F -c max_connections=300"
                " -c max_wal_size=64MB -c min_wal_size=32MB"
            )
            try:
                self._pg(
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    opts,
                    "start",
                )
            except PgToolError as exc:
                last = exc
                continue
            self.port = port
            return
        log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        raise RuntimeError(f"PostgreSQL failed to start: {last}\n--- server.log ---\n{log}")

    def _pg(self, tool: str, *args: str) -> str:
        assert self.bin_dir is not None and self.root is not None
        # pg_ctl needs -l above: otherwise the postmaster inherits our pipes and
        # capture_output would wait for the server to exit.
        proc = subprocess.run(
            [*self._as_postgres, str(self.bin_dir / tool), *args],
            cwd=self.root,  # postgres cannot chdir back into a root-only cwd
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise PgToolError(f"{tool} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def dsn(self, dbname: str = "postgres") -> str:
        assert self.port is not None, "cluster not started"
        return f"postgresql://{_SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def url(self, dbname: str) -> str:
        """SQLAlchemy async URL for a database of this cluster."""
        assert self.port is not None, "cluster not started"
        return f"postgresql+asyncpg://{_SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def unique_name(self, hint: str = "db") -> str:
        self._db_counter += 1
        base = re.sub(r"[^a-z0-9_]", "_", hint.lower()).strip("_") or "db"
        return f"{base[:40]}_{os.getpid()}_{self._db_counter}"

    def create_database(self, name: str, migrated: bool = False) -> str:
        """A new database; `migrated`: already at the newest schema, copied from a template
        migrated once per cluster (a node's first start then skips the migrations)."""
        if not _DB_NAME.match(name):
            raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern}")
        # Identifiers cannot be bound as parameters; the regex above guards them.
        copy = f' TEMPLATE "{self._migrated_template()}"' if migrated else ""
        self._execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def _migrated_template(self) -> str:
        if self._schema_template is None:
            name = self.unique_name("schema_template")
            self._execute(f'CREATE DATABASE "{name}"')
            run_apart(migrate(self.url(name)))
            self._schema_template = name
        return self._schema_template

    def _execute(self, statement: str) -> None:
        async def execute() -> None:
            conn = await asyncpg.connect(self.dsn())
            try:
                await conn.execute(statement)
            finally:
                await conn.close()

        run_apart(execute())

    def sql(self, dbname: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (empty for statements without rows)."""

        async def run() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(self.dsn(dbname))
            try:
                return [tuple(r) for r in await conn.fetch(query, *args)]
            finally:
                await conn.close()

        return run_apart(run())

    def stop(self) -> None:
        if self.root is None:
            return
        if self.port is not None and (self.data_dir / "postmaster.pid").exists():
            # immediate: the data is thrown away, a checkpoint would only cost time.
            # A failed stop must not hide the test result; rmtree below still runs.
            with contextlib.suppress(PgToolError):
                self._pg("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        self.port = None
        self._remove_root()

    def _remove_root(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
