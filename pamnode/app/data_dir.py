"""The data directory holds password hashes, the key ring, TLS keys, audit and job output: it
is private to the node's user (directories 0700, files 0600), fixed at every start so that a
directory made before, or under a lax umask, is closed too."""

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
# Files created later by this process (SQLite journals, key ring updates) get these modes too.
UMASK = 0o077


def make_private(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), DIR_MODE, follow_symlinks=False)
        for name in files:
            entry = os.path.join(root, name)
            if not os.path.islink(entry):
                os.chmod(entry, FILE_MODE)
