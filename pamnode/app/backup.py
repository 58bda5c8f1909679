"""Backup and restore of a data directory: the database (SQLite: an online, consistent copy)
with the key ring its sealed values need, the TLS pair and the node's other files, in one
tar.gz archive.

The archive (format 1) ends with `manifest.json`: the format, what it holds and a SHA-256 of
every file. Restore unpacks into a staging directory inside the target, checks every file
against the manifest, and only then moves the files into place: a corrupt archive leaves the
target as it was.
"""

import gzip
import hashlib
import io
import json
import os
import shlex
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy.engine import URL, make_url

from pamnode import __version__
from pamnode.app.data_dir import DIR_MODE, FILE_MODE, make_private
from pamnode.app.settings import Settings
from pamnode.core.errors import Conflict, InvalidInput, NotFound
from pamnode.db.sole_server import serve_alone

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE = "pamnode.db"
KEYRING = "keyring.json"
# What the node needs beside its database to start again as itself: the key ring (opens
# the sealed values, signs tokens), its certificate (peers and clients pinned it), the SSH
# proxy's host key (clients pinned it too) and the recordings the session rows point to.
# Logs are left out.
NODE_FILES = {
    KEYRING: "the key ring",
    "tls": "the TLS certificate and key",
    "ssh_proxy_host_key": "the SSH proxy's host key",
    "recordings": "session recordings",
}
# Files of an SQLite database beside the main one; a stale one would be replayed into a
# restored database.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
# A key rotation (or a new tenant) that changes the key ring while the database is copied
# makes the pair disagree: the copy is taken again, this many times at most.
RING_TRIES = 5
CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    """What a backup wrote or a restore put back."""

    path: Path
    # "sqlite" when the database is in the archive; else the database's dialect name.
    database: str
    files: list[str]
    created_at: str
    pamnode_version: str
    # The key ring is sealed in the database under the node's KEK: no key ring file.
    key_ring_sealed: bool = False

    @property
    def holds_database(self) -> bool:
        return DATABASE in self.files

    def described(self) -> str:
        """What the archive holds, for people."""
        tops = {PurePosixPath(name).parts[0] for name in self.files}
        contents = {DATABASE: "the SQLite database (an online copy)", **NODE_FILES}
        return ", ".join(words for top, words in contents.items() if top in tops)


def backup(settings: Settings, target: Path) -> Archive:
    """Write the archive of `settings.data_dir` to `target` (mode 0600, replaced atomically).

    A node with a key-encryption key keeps its key ring sealed in the database: the archive
    then holds no key ring file, and the KEK is kept apart from it (docs/operations.md)."""
    data_dir = settings.data_dir
    sealed = settings.kek is not None or settings.kek_file is not None
    ring_path = None if sealed else settings.resolved_keyring_file
    if ring_path is not None and not ring_path.is_file():
        raise NotFound(
            f"no key ring at {ring_path}: {data_dir} is not a pamnode data directory, or one "
            "that lost its key ring (restore it from a backup)"
        )
    url = make_url(settings.resolved_database_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pamnode-backup-", dir=target.parent) as tmp:
        staged: dict[str, Path] = {}
        ring: bytes | None = None
        if url.get_backend_name() == "sqlite":
            staged[DATABASE] = Path(tmp) / DATABASE
            ring = _copy_with_ring(Path(url.database or ""), staged[DATABASE], ring_path)
        elif ring_path is not None:
            ring = ring_path.read_bytes()
        if ring is not None:
            staged[KEYRING] = Path(tmp) / KEYRING
            staged[KEYRING].write_bytes(ring)
        files = dict(staged)
        for name, path in _node_files(data_dir):
            # A key ring file left in a data directory whose ring is in the database is stale.
            if not (sealed and name == KEYRING):
                files.setdefault(name, path)
        archive = Archive(
            target,
            url.get_backend_name(),
            sorted(files),
            datetime.now(UTC).isoformat(timespec="seconds"),
            __version__,
            key_ring_sealed=sealed,
        )
        _write(archive, files)
    return archive


def _copy_with_ring(database: Path, copy: Path, ring_path: Path | None) -> bytes | None:
    """An online copy of the SQLite database with the key ring file as it was during the
    copy (none when the ring is sealed in the database: it is in the copy)."""
    if not database.is_file():
        raise NotFound(f"no SQLite database at {database}")
    for _ in range(RING_TRIES):
        before = None if ring_path is None else ring_path.read_bytes()
        copy.unlink(missing_ok=True)
        # SQLite's backup API: a consistent snapshot while the node goes on writing (WAL).
        source = sqlite3.connect(database, timeout=30)
        try:
            target = sqlite3.connect(copy)
            try:
                source.backup(target)
                checked = target.execute("PRAGMA quick_check").fetchone()
                if checked != ("ok",):
                    raise InvalidInput(f"the copy of {database} failed its check: {checked}")
            finally:
                target.close()
        finally:
            source.close()
        if ring_path is None or ring_path.read_bytes() == before:
            return before
    raise Conflict(
        f"the key ring changed during each of {RING_TRIES} copies of the database (a key "
        "rotation under way?): try again when it is over"
    )


def _node_files(data_dir: Path) -> Iterator[tuple[str, Path]]:
    for top in NODE_FILES:
        path = data_dir / top
        if path.is_file() and not path.is_symlink():
            yield top, path
        elif path.is_dir():
            for entry in sorted(path.rglob("*")):
                if entry.is_file() and not entry.is_symlink():
                    yield entry.relative_to(data_dir).as_posix(), entry


class _Hashing:
    """A file read by tarfile, hashed on the way: files are read once, as they are archived."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.sha256.update(data)
        return data


def _write(archive: Archive, files: dict[str, Path]) -> None:
    partial = archive.path.with_name(archive.path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    # An older file of that name keeps its mode through O_TRUNC.
    os.fchmod(fd, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            with tarfile.open(fileobj=out, mode="w:gz") as tar:
                sums = {}
                for name, path in sorted(files.items()):
                    with path.open("rb") as handle:
                        reader = _Hashing(handle)
                        tar.addfile(_member(name, os.fstat(handle.fileno()).st_size), reader)
                    sums[name] = reader.sha256.hexdigest()
                manifest = json.dumps(_manifest(archive, sums), indent=2).encode()
                tar.addfile(_member(MANIFEST, len(manifest)), io.BytesIO(manifest))
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, archive.path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = FILE_MODE
    info.mtime = int(datetime.now(UTC).timestamp())
    return info


def _manifest(archive: Archive, sums: dict[str, str]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "pamnode_version": archive.pamnode_version,
        "created_at": archive.created_at,
        "database": archive.database,
        "key_ring_sealed": archive.key_ring_sealed,
        "files": sums,
    }


def pg_dump_command(settings: Settings) -> str:
    """The command that dumps the node's PostgreSQL database (its password is left to
    PGPASSWORD or ~/.pgpass, never on a command line)."""
    url = make_url(settings.resolved_database_url)
    # libpq's spelling, without the driver and without the password.
    dump = URL.create("postgresql", url.username, None, url.host, url.port, url.database)
    return "pg_dump --format=custom --file pamnode.dump " + shlex.quote(
        dump.render_as_string(hide_password=False)
    )


def occupied(data_dir: Path) -> list[str]:
    """What a restore into `data_dir` would replace that a node may need."""
    return [name for name in (DATABASE, KEYRING) if (data_dir / name).exists()]


def restore(source: Path, data_dir: Path, force: bool) -> Archive:
    """Put the archive's files into `data_dir`, after checking every one of them."""
    if not source.is_file():
        raise NotFound(f"no backup archive at {source}")
    there = occupied(data_dir)
    if there and not force:
        raise Conflict(
            f"{data_dir} already holds {' and '.join(there)}: a restore would replace them "
            "(stop the node that uses it, then add --force)"
        )
    with _not_served(data_dir):
        return _restore(source, data_dir)


@contextmanager
def _not_served(data_dir: Path) -> Iterator[None]:
    """Hold the lock a serving node holds on the database there (db/sole_server.py): a node
    that serves it refuses the restore, and none can start until it is over."""
    if not (data_dir / DATABASE).exists():
        yield
        return
    try:
        held = serve_alone(f"sqlite:///{(data_dir / DATABASE).resolve()}")
    except Conflict:
        raise Conflict(f"a node is serving {data_dir}: stop it before restoring into it") from None
    try:
        yield
    finally:
        if held is not None:
            held.close()


def _restore(source: Path, data_dir: Path) -> Archive:
    made = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    # Inside the target, so that files move into place by renaming.
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    try:
        archive = _unpack(source, staging)
    except BaseException:
        shutil.rmtree(staging)
        if made:
            data_dir.rmdir()
        raise
    for top in sorted({PurePosixPath(name).parts[0] for name in archive.files}):
        _remove(data_dir / top)
        if top == DATABASE:
            for suffix in SQLITE_COMPANIONS:
                _remove(data_dir / (DATABASE + suffix))
        os.replace(staging / top, data_dir / top)
    staging.rmdir()
    make_private(data_dir)
    return replace(archive, path=data_dir)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _unpack(source: Path, staging: Path) -> Archive:
    sums: dict[str, str] = {}
    manifest: Any = None
    try:
        with gzip.open(source) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                name = _checked_name(source, member)
                handle = tar.extractfile(member)
                assert handle is not None
                if name == MANIFEST:
                    manifest = json.loads(handle.read())
                else:
                    sums[name] = _unpack_file(handle, staging / name)
            # To the end of the compressed stream, where gzip checks its CRC: damage that
            # tar reads as the end of the archive is found here.
            while stream.read(CHUNK):
                pass
    except (tarfile.TarError, zlib.error, EOFError, OSError, ValueError) as exc:
        raise InvalidInput(f"{source} is not a readable pamnode backup ({exc})") from None
    return _verified(source, manifest, sums)


def _checked_name(source: Path, member: tarfile.TarInfo) -> str:
    path = PurePosixPath(member.name)
    # Only what a backup writes: regular files, under the names the node uses.
    expected = path.parts and path.parts[0] in (MANIFEST, DATABASE, *NODE_FILES)
    if not member.isfile() or not expected or path.is_absolute() or ".." in path.parts:
        raise InvalidInput(f"{source} is not a pamnode backup: it holds {member.name!r}")
    return path.as_posix()


def _unpack_file(handle: IO[bytes], path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    sha256 = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    with os.fdopen(fd, "wb") as out:
        while chunk := handle.read(CHUNK):
            sha256.update(chunk)
            out.write(chunk)
    return sha256.hexdigest()


def _verified(source: Path, manifest: Any, sums: dict[str, str]) -> Archive:
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise InvalidInput(f"{source} has no manifest: not a pamnode backup, or a truncated one")
    if manifest.get("format") != FORMAT:
        raise InvalidInput(
            f"{source} is a backup of format {manifest.get('format')!r}; this pamnode "
            f"({__version__}) restores format {FORMAT}"
        )
    listed: dict[str, str] = manifest["files"]
    wrong = sorted(
        name for name in listed.keys() | sums.keys() if listed.get(name) != sums.get(name)
    )
    if wrong:
        raise InvalidInput(f"{source} is corrupt: checksum mismatch for {', '.join(wrong)}")
    sealed = manifest.get("key_ring_sealed") is True
    if KEYRING not in sums and not sealed:
        raise InvalidInput(f"{source} holds no key ring")
    return Archive(
        source,
        str(manifest.get("database")),
        sorted(sums),
        str(manifest.get("created_at")),
        str(manifest.get("pamnode_version")),
        key_ring_sealed=sealed,
    )
