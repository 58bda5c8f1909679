"""The text of ended sessions, put into the search index by the node that holds their
recordings (sessions/search.py searches it).

Every main runs `keep_indexing`: it takes the ended sessions of this node (the carrier that
wrote or fetched the recordings) whose text is not in yet, newest first (so a session is
searchable seconds after its end, and those that ended before the index existed follow),
reads their recordings off the event loop and writes the pieces. The write is conditional
on `text_indexed_at` still being empty, in the pieces' own transaction: several mains on one
database never index a session twice. A session whose recordings are still on a peer waits
until they are fetched.

What is read: a shell's terminal output from its asciicast (each piece with its moment in
playback), else from its typescript; an exec's command lines; SFTP's file operations. At
most `budget` characters of text per session (the setting `search_index_chars`); the rest
stays in the recording, unsearched.
"""

import asyncio
import codecs
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.db.base import utcnow
from pamnode.sessions.ids import checked
from pamnode.sessions.models import Session, SessionText
from pamnode.sessions.params import ASCIICAST, COMMANDS, FILES, TYPESCRIPT
from pamnode.sessions.states import ENDED
from pamnode.sessions.terminal_text import Chunk, Lines, chunks
from pamnode.sessions.typescripts import FOOTER, HEADER

log = logging.getLogger("pamnode.sessions")

TICK_S = 2.0
BATCH = 20
_READ_BYTES = 64 * 1024
# The time stamp the proxy's command and file logs start each line with: not searched.
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")
_MARKERS = frozenset({HEADER.decode().strip(), FOOTER.decode().strip()})


@dataclass(frozen=True)
class Piece:
    kind: str
    chunk: Chunk


def _cast_events(path: Path) -> Iterator[tuple[float, str]]:
    with path.open(encoding="utf-8", errors="replace") as cast:
        cast.readline()  # the header
        for line in cast:
            try:
                at, code, data = json.loads(line)
            except ValueError:
                continue
            if code == "o" and isinstance(data, str) and isinstance(at, int | float):
                yield float(at), data


def _terminal(path: Path, kind: str, lines: Lines) -> None:
    if kind == ASCIICAST:
        for at, data in _cast_events(path):
            lines.feed(data, at)
            if lines.full:
                return
        return
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with path.open("rb") as typescript:
        while not lines.full and (piece := typescript.read(_READ_BYTES)):
            lines.feed(decoder.decode(piece))


def _log_lines(path: Path, lines: Lines) -> None:
    with path.open(encoding="utf-8", errors="replace") as log_file:
        for line in log_file:
            lines.feed(_STAMP.sub("", line))
            if lines.full:
                return


def read_texts(directory: Path, kinds: list[str], budget: int) -> list[Piece]:
    """The pieces of a session's recordings the index keeps (blocking: run in a thread)."""
    pieces: list[Piece] = []
    # A shell has both: the asciicast has the moments, the typescript the same text.
    terminal = ASCIICAST if ASCIICAST in kinds else TYPESCRIPT if TYPESCRIPT in kinds else None
    for kind in [kind for kind in (terminal, COMMANDS, FILES) if kind in kinds]:
        path = directory / kind
        if budget <= 0 or not path.is_file():
            continue
        lines = Lines(budget)
        if kind in (ASCIICAST, TYPESCRIPT):
            _terminal(path, kind, lines)
        else:
            _log_lines(path, lines)
        budget = lines.budget
        kept = [line for line in lines.finish() if line.text not in _MARKERS]
        pieces.extend(Piece(kind, chunk) for chunk in chunks(kept))
    return pieces


async def keep_indexing(
    database: async_sessionmaker[AsyncSession], recordings_dir: Path, node_name: str, budget: int
) -> None:
    """Until cancelled: index the sessions that ended here."""
    while True:
        try:
            while await index_due(database, recordings_dir, node_name, budget) == BATCH:
                pass
        except Exception:
            # A broken round (the database away a moment) must not end the indexing.
            log.exception("session search index: a round broke")
        await asyncio.sleep(TICK_S)


async def index_due(
    database: async_sessionmaker[AsyncSession], recordings_dir: Path, node_name: str, budget: int
) -> int:
    """One round; how many sessions it looked at."""
    async with database() as db:
        due = (
            await db.execute(
                select(Session.id, Session.recordings)
                .where(
                    Session.text_indexed_at.is_(None),
                    Session.origin == "local",
                    Session.state.in_(sorted(ENDED)),
                    Session.recording_next_at.is_(None),
                    (Session.served_by == node_name) | Session.served_by.is_(None),
                )
                .order_by(Session.created_at.desc())
                .limit(BATCH)
            )
        ).all()
    for session_id, kinds in due:
        directory = recordings_dir / checked(session_id)
        try:
            pieces = await asyncio.to_thread(read_texts, directory, list(kinds), budget)
        except (OSError, UnicodeError) as exc:
            # Marked indexed all the same: a recording that cannot be read is not read again
            # every round (its text stays unsearched; its hash check names a broken file).
            log.warning("session %s: its recordings could not be indexed: %s", session_id, exc)
            pieces = []
        await _write(database, session_id, pieces)
    return len(due)


async def _write(
    database: async_sessionmaker[AsyncSession], session_id: str, pieces: list[Piece]
) -> None:
    async with database.begin() as db:
        taken = await db.execute(
            update(Session)
            .where(Session.id == session_id, Session.text_indexed_at.is_(None))
            # Its text indexed is no change of the session's: `updated_at` stays.
            .values(text_indexed_at=utcnow(), updated_at=Session.updated_at)
            .returning(Session.recordings_removed_at)
        )
        row = taken.first()
        # Another main took it; or the site's retention removed the recordings while they
        # were read (it removes their text in the same transaction as it marks them: a
        # removal that commits after this one finds these pieces and removes them too).
        if row is None or row.recordings_removed_at is not None or not pieces:
            return
        await db.execute(
            insert(SessionText),
            [
                {
                    "session_id": session_id,
                    "kind": piece.kind,
                    "offset_s": piece.chunk.at,
                    "body": piece.chunk.text,
                }
                for piece in pieces
            ],
        )
