"""Session recordings: which files a node holds, whether guacd still writes them, and the
main's copy of what a peer's guacd wrote."""

import asyncio
import fcntl
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from pamnode.core.errors import Conflict, InvalidInput, NotFound, PeerFailure
from pamnode.peers.client import PeerClients, PeerEndpoint
from pamnode.sessions import typescripts
from pamnode.sessions.params import GATEWAY_KINDS, RECORDING_KINDS

# How long the main keeps asking a peer for a recording guacd has not finished writing.
FETCH_PATIENCE_S = 20.0
# How long a node waits for its own guacd to let go of a recording after a session.
SETTLE_S = 10.0


def check_kind(kind: str) -> str:
    if kind not in RECORDING_KINDS:
        known = ", ".join(RECORDING_KINDS)
        raise InvalidInput(
            f"'{kind[:32]}' is not a kind of recording; the kinds are: {known}",
            code="unknown_recording_kind",
        )
    return kind


def being_written(path: Path) -> bool:
    """guacd holds a POSIX write lock on a recording until the session's process ends."""
    with path.open("rb") as file:
        try:
            fcntl.lockf(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.lockf(file, fcntl.LOCK_UN)
        return False


def present(directory: Path) -> list[str]:
    return [kind for kind in RECORDING_KINDS if (directory / kind).is_file()]


async def settled(directory: Path) -> list[str]:
    """The recordings in `directory` once guacd has let go of them (or SETTLE_S has passed),
    with the asciicast of an SSH session's typescript and its timing."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_S
    kinds = present(directory)
    while any(being_written(directory / kind) for kind in kinds) and loop.time() < deadline:
        await asyncio.sleep(0.1)
    if await asyncio.to_thread(typescripts.to_asciicast, directory):
        return present(directory)
    return kinds


def digest(path: Path) -> str:
    """A recording's SHA-256 (hex), read in pieces: a desktop session's dump may be large."""
    sha = hashlib.sha256()
    with path.open("rb") as file:
        while piece := file.read(1024 * 1024):
            sha.update(piece)
    return sha.hexdigest()


async def digests(directory: Path, kinds: list[str]) -> dict[str, str]:
    """The SHA-256 of each recording kept, by kind (off the event loop)."""

    def read_all() -> dict[str, str]:
        return {kind: digest(directory / kind) for kind in kinds if (directory / kind).is_file()}

    return await asyncio.to_thread(read_all)


def readable(directory: Path, kind: str) -> Path:
    """A finished recording file to hand out, or the reason there is none."""
    path = directory / check_kind(kind)
    # guacd's user owns the recordings directory: a link left there must not make the node
    # hand out a file of its own (`directory` is resolved; a path through a link is not).
    if not path.is_file() or path.resolve() != path:
        raise NotFound(f"this session has no {RECORDING_KINDS[kind]}", code="recording_missing")
    if being_written(path):
        raise Conflict(
            "the recording is still being written; ask again in a moment",
            code="recording_being_written",
        )
    return path


@dataclass(frozen=True)
class Fetched:
    """What a main got of a session's recordings from the peer that carried it."""

    stored: list[str] = field(default_factory=list)
    # Why the main must ask again (the peer did not answer, or guacd still writes).
    pending: str = ""
    # Why it never will: the peer says it has no such session any more.
    gone: str = ""


async def fetch_from_peer(
    clients: PeerClients,
    endpoint: PeerEndpoint,
    session_id: str,
    directory: Path,
    patience_s: float = FETCH_PATIENCE_S,
) -> Fetched:
    """Copy the recordings a peer's guacd wrote.

    The peer answers 409 while guacd still writes (asked again until `patience_s`) and 404
    for a kind the session does not have (an RDP session has no typescript, a peer of an
    older version no asciicast), or for the session when it no longer has it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_s
    directory.mkdir(parents=True, exist_ok=True)
    stored: list[str] = []
    for kind in GATEWAY_KINDS:
        path = f"peer/sessions/{session_id}/recording?kind={kind}"
        while True:
            try:
                response = await clients.call(endpoint, "GET", path)
            except PeerFailure as exc:
                if exc.code == "recording_missing":
                    break
                if exc.code == "session_not_found":
                    gone = f"the peer no longer has the recordings: {exc.message}"
                    return Fetched(stored, gone=gone)
                if exc.code == "recording_being_written" and loop.time() < deadline:
                    await asyncio.sleep(0.5)
                    continue
                return Fetched(stored, pending=f"the {kind} could not be fetched: {exc.message}")
            (directory / kind).write_bytes(response.content)
            stored.append(kind)
            break
    return Fetched(stored)
