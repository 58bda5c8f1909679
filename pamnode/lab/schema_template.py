"""An empty database at the newest schema, made once per process and copied for each new lab
node: the node's first start then finds its schema at head instead of running every migration
(about a second of CPU each, and the test suite starts well over a hundred nodes).

Only the lab does this; a node in production migrates its own database, as it must.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

from pamnode.db.engine import make_engine
from pamnode.db.migrate import upgrade
from pamnode.lab.apart import run_apart

_lock = threading.Lock()
_template: Path | None = None


async def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema, as a node's first start would."""
    engine = make_engine(url, pool_size=1, pool_timeout_s=30)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def copy_migrated_sqlite(path: Path) -> None:
    """Put an empty SQLite database at the newest schema at `path`, unless one is there."""
    if path.exists():
        return
    shutil.copyfile(_sqlite_template(), path)
    path.chmod(0o600)


def _sqlite_template() -> Path:
    global _template
    with _lock:
        if _template is None:
            folder = Path(tempfile.mkdtemp(prefix="pamnode-schema-"))
            atexit.register(shutil.rmtree, folder, True)
            made = folder / "pamnode.db"
            run_apart(migrate(f"sqlite+aiosqlite:///{made}"))
            # One file: the write-ahead log folded in, so that a copy is the whole database.
            with sqlite3.connect(made) as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            _template = made
        return _template
