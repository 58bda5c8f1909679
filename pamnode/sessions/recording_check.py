"""Recordings checked against the SHA-256 each session kept when it ended (`pamnode audit
verify`): an edited, truncated or missing file is named with its session."""

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.sessions.models import Session
from pamnode.sessions.recordings import digest


@dataclass(frozen=True)
class RecordingProblem:
    session_id: str
    kind: str
    problem: str

    def described(self) -> str:
        return f"session {self.session_id}, {self.kind}: {self.problem}"


@dataclass
class RecordingReport:
    # Recordings whose hash matched, and recordings kept before hashes were (none to match).
    matched: int = 0
    unproven: int = 0
    problems: list[RecordingProblem] = field(default_factory=list)


def _problem(path: Path, kept: str) -> str:
    if not path.is_file():
        return "the file is missing (removed, but not by retention)"
    if digest(path) != kept:
        return "edited: its SHA-256 differs from the one kept when the session ended"
    return ""


async def verify_recordings(db: AsyncSession, recordings_dir: Path) -> RecordingReport:
    """Every recording this node holds for a session, that retention has not removed."""
    report = RecordingReport()
    rows = await db.execute(
        select(Session.id, Session.recordings, Session.recording_hashes)
        .where(Session.recordings_removed_at.is_(None))
        .order_by(Session.created_at)
    )
    for session_id, kinds, hashes in rows.all():
        for kind in kinds or []:
            kept = (hashes or {}).get(kind)
            if kept is None:
                report.unproven += 1
                continue
            path = recordings_dir / session_id / kind
            problem = await asyncio.to_thread(_problem, path, kept)
            if problem:
                report.problems.append(RecordingProblem(session_id, kind, problem))
            else:
                report.matched += 1
    return report
