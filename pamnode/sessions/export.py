"""One session as evidence in one archive (tar.gz): its details, the audit rows that name it
(with their places and hashes in the chain), its recordings, and a manifest of the SHA-256 of
every file beside the hashes kept when the session ended.

Administrators and auditors only (`audit.read`), of a session they may see; each export is a
`session.export` audit row.
"""

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.actions import AuditAction
from pamnode.audit.models import AuditEvent
from pamnode.audit.service import record
from pamnode.audit.stream import StreamedRow, row_fields
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission
from pamnode.sessions import recordings
from pamnode.sessions.context import SessionContext
from pamnode.sessions.recordings import digest
from pamnode.sessions.report import get_session
from pamnode.sessions.schemas import SessionDetailsOut

FORMAT = "pamnode-session-export/1"


@dataclass(frozen=True)
class SessionExport:
    session_id: str
    details: dict[str, Any]
    rows: list[StreamedRow]
    # Each recording file, by kind, and the SHA-256 kept when the session ended.
    files: dict[str, Path]
    kept_hashes: dict[str, str]


async def gather(
    db: AsyncSession, ctx: SessionContext, principal: Principal, session_id: str
) -> SessionExport:
    """What the archive holds, read in the request's transaction (which records the export)."""
    principal.require(Permission.AUDIT_READ)
    session = await get_session(db, principal, session_id)
    rows = await db.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.tenant == principal.tenant.name,
            AuditEvent.site == principal.site.name,
            AuditEvent.details["session"].as_string() == session.id,
        )
        .order_by(AuditEvent.id)
    )
    directory = ctx.recording_dir(session.id)
    # A recording still being written is refused (409), as its download is.
    files = {kind: recordings.readable(directory, kind) for kind in session.recordings}
    export = SessionExport(
        session.id,
        SessionDetailsOut.model_validate(session).model_dump(mode="json"),
        [row_fields(row) for row in rows.all()],
        files,
        dict(session.recording_hashes or {}),
    )
    record(
        db,
        principal.audit_scope,
        AuditAction.SESSION_EXPORT,
        session.asset_name,
        session=session.id,
        recordings=sorted(files),
    )
    return export


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> str:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(data).hexdigest()


def write_archive(export: SessionExport, sink: IO[bytes]) -> None:
    """The archive, written to `sink` (blocking: run it off the event loop)."""
    top = f"session-{export.session_id}"
    hashes: dict[str, str] = {}
    recorded: dict[str, dict[str, Any]] = {}
    with tarfile.open(fileobj=sink, mode="w:gz") as tar:
        for name, content in (("session.json", export.details), ("audit.json", export.rows)):
            data = json.dumps(content, indent=2, ensure_ascii=False).encode()
            hashes[name] = _add(tar, f"{top}/{name}", data)
        for kind, path in export.files.items():
            name = f"recordings/{kind}"
            tar.add(path, arcname=f"{top}/{name}", recursive=False)
            hashes[name] = digest(path)
            kept = export.kept_hashes.get(kind)
            recorded[kind] = {"sha256_at_end": kept, "matches": kept == hashes[name]}
        manifest = {
            "format": FORMAT,
            "session": export.session_id,
            "exported_at": datetime.now(UTC).isoformat(),
            # The SHA-256 of every other file of the archive, as written.
            "sha256": hashes,
            # Each recording against the hash kept when the session ended (None: ended
            # before hashes were kept).
            "recordings": recorded,
            # Where the rows stand in the audit trail's hash chain (`pamnode audit verify`).
            "chain": [
                {"seq": row["seq"], "prev_hash": row["prev_hash"], "hash": row["hash"]}
                for row in export.rows
            ],
        }
        _add(tar, f"{top}/manifest.json", json.dumps(manifest, indent=2).encode())
