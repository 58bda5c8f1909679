"""Search across sessions: which sessions showed or did some text (terminal output, exec
command lines, SFTP operations), among those Reports > Sessions shows the caller.

A query is words, and "quoted phrases" whose words must follow each other; a session matches
when one piece of its text holds every word and phrase. Words are letters and digits (any
other character separates them, as the index does), compared without case. Each hit is a
session with its first matching piece: a snippet around the match and, for a terminal
recording, the moment in playback when that piece was on the screen.

The index is the database's own (sessions/search_index.py fills it): SQLite's FTS5 or
PostgreSQL's full-text search, one query each below; visibility and filters are the report's
(`report.visible`).
"""

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Integer, Select, func, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.core.errors import InvalidInput
from pamnode.identity.principal import Principal
from pamnode.sessions import report
from pamnode.sessions.models import Session, SessionText
from pamnode.sessions.report import SessionFilter

MAX_QUERY_CHARS = 200
MAX_WORDS = 16
SNIPPET_CHARS = 160
_TERMS = re.compile(r'"([^"]*)"?|(\S+)')
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Hit:
    session: Session
    kind: str
    # Seconds into the terminal recording's playback; None for text without timing.
    offset_s: float | None
    snippet: str


@dataclass(frozen=True)
class Found:
    hits: list[Hit]
    # How many sessions match in all.
    total: int


def phrases_of(query: str) -> list[list[str]]:
    """The query's phrases, each its words (a lone word is a phrase of one)."""
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(
            f"a search is at most {MAX_QUERY_CHARS} characters", code="search_query_invalid"
        )
    phrases = [
        [word.casefold() for word in words]
        for quoted, bare in _TERMS.findall(query)
        if (words := _WORD.findall(quoted or bare))
    ]
    if not phrases:
        raise InvalidInput(
            "the search needs a word of letters or digits", code="search_query_invalid"
        )
    if sum(len(phrase) for phrase in phrases) > MAX_WORDS:
        raise InvalidInput(f"a search is at most {MAX_WORDS} words", code="search_query_invalid")
    return phrases


def _sqlite_match(phrases: list[list[str]]) -> ColumnElement[bool]:
    # FTS5: each phrase quoted (its words are letters and digits: nothing to escape).
    expression = " AND ".join('"' + " ".join(phrase) + '"' for phrase in phrases)
    matching: Select[int] = (
        select(literal_column("rowid", Integer))
        .select_from(text("session_texts_fts"))
        .where(text("session_texts_fts MATCH :search").bindparams(search=expression))
    )
    return SessionText.id.in_(matching)


def _postgresql_match(phrases: list[list[str]]) -> ColumnElement[bool]:
    # tsquery: the words of a phrase follow each other (<->); every phrase (&).
    expression = " & ".join("(" + " <-> ".join(phrase) + ")" for phrase in phrases)
    query = func.to_tsquery(literal_column("'simple'::regconfig"), expression)
    return literal_column("session_texts.body_tsv").op("@@")(query)


def snippet(body: str, phrase: list[str]) -> str:
    """The text around the phrase's first match, on one line."""
    words = r"[\W_]+".join(re.escape(word) for word in phrase)
    found = re.search(rf"(?<![^\W_]){words}(?![^\W_])", body, re.IGNORECASE)
    start, end = (found.start(), found.end()) if found else (0, 0)
    margin = max(0, (SNIPPET_CHARS - (end - start)) // 2)
    left, right = max(0, start - margin), min(len(body), end + margin)
    around = " ".join(body[left:right].split())
    return ("…" if left > 0 else "") + around + ("…" if right < len(body) else "")


async def search_sessions(
    db: AsyncSession,
    principal: Principal,
    query: str,
    where: SessionFilter,
    limit: int,
    offset: int,
) -> Found:
    """The sessions the caller may read whose text matches, newest first."""
    phrases = phrases_of(query)
    sqlite = db.get_bind().dialect.name == "sqlite"
    match = _sqlite_match(phrases) if sqlite else _postgresql_match(phrases)
    readable = report.visible(principal, where).with_only_columns(Session.id)
    first = func.row_number().over(
        partition_by=SessionText.session_id,
        order_by=(func.coalesce(SessionText.offset_s, 0.0), SessionText.id),
    )
    ranked = (
        select(SessionText.id, SessionText.session_id, first.label("nth"))
        .where(match, SessionText.session_id.in_(readable))
        .subquery()
    )
    firsts = select(ranked.c.id).where(ranked.c.nth == 1)
    total = await db.scalar(select(func.count()).select_from(firsts.subquery())) or 0
    rows = await db.execute(
        select(SessionText, Session)
        .join(Session, Session.id == SessionText.session_id)
        .where(SessionText.id.in_(firsts))
        .order_by(Session.created_at.desc(), Session.id)
        .limit(limit)
        .offset(offset)
    )
    hits = [
        Hit(session, piece.kind, piece.offset_s, snippet(piece.body, phrases[0]))
        for piece, session in rows.tuples()
    ]
    return Found(hits, total)
