"""One serving node per SQLite database: several main nodes share a database on PostgreSQL.

SQLite has no row locks for the job queue's claims (`jobs/leases.py`) and one write lock for
the whole file, so a second `pamnode serve` on the same file would take the same queued jobs
and take over the first node's running ones as soon as it started. It is refused at startup
with a lock held beside the database for as long as the node serves (an advisory `flock`: it
goes with the process, even a killed one). Short commands (`pamnode init`, ...) do not take it.
"""

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from pamnode.core.errors import Conflict


def serve_alone(url: str) -> IO[str] | None:
    """Hold the SQLite database at `url` for this process (the lock file, to keep open while
    serving), or raise Conflict naming the process that holds it. None for PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    path = Path(parsed.database).with_name(Path(parsed.database).name + ".serving")
    lock = path.open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise Conflict(
            f"{holder} already serves the SQLite database {parsed.database}: one node per "
            "SQLite database; run several main nodes on one PostgreSQL database instead",
            code="database_in_use",
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pamnode serve (pid {os.getpid()})\n")
    lock.flush()
    return lock
