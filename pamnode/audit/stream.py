"""The audit trail streamed where an organisation collects it: RFC 5424 syslog over TCP or
TLS (octet-counting framing, RFC 6587) and/or JSON lines appended to a file.

Each output follows the trail from a cursor, the `chain_seq` of the last row it delivered
(audit/chain.py numbers rows in commit order: a cursor never passes a row that commits later).
The audit table itself is the spool: a row is committed there before any output sees it, so
a collector that is down holds up nothing but its own cursor, and loses nothing; what waits
for it is bounded by the trail, in the database, and one batch in memory. The cursor is
kept in the data directory (syslog) or read back from the file's last line (JSON lines), so
a restart resumes where the output stopped, sending no row twice.
"""

import asyncio
import contextlib
import json
import logging
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, Protocol, TypedDict

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.audit.models import AuditEvent
from pamnode.audit.service import linked_after

log = logging.getLogger("pamnode.audit.stream")

# Rows read and sent at a time.
BATCH = 500
# How often an output that is up to date looks for new rows.
POLL_S = 1.0
# The pause after a failed delivery doubles up to this.
MAX_BACKOFF_S = 30.0
# RFC 5424: facility authpriv (10); severity notice (5) for what was done, warning (4) for
# what was refused or failed.
_FACILITY = 10
_NOTICE, _WARNING = 5, 4
# The structured data's id: name@private-enterprise-number (RFC 5424 section 7.2.2); 32473
# is the number RFC 5612 reserves for documentation.
SD_ID = "pamnode@32473"


class StreamedRow(TypedDict):
    """An audit row as the SIEM outputs and an evidence archive carry it."""

    seq: int | None
    id: int
    at: str
    tenant: str
    site: str
    actor: str
    action: str
    target: str
    outcome: str
    source: str
    details: dict[str, Any]
    prev_hash: str | None
    hash: str | None


def row_fields(row: AuditEvent) -> StreamedRow:
    """A row as both outputs carry it, its chain hashes included (a collector can check them)."""
    return {
        "seq": row.chain_seq,
        "id": row.id,
        "at": row.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "tenant": row.tenant,
        "site": row.site,
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "outcome": row.outcome,
        "source": row.source,
        "details": row.details,
        "prev_hash": row.prev_hash,
        "hash": row.row_hash,
    }


def _sd_value(value: object) -> str:
    # RFC 5424 section 6.3.3: '"', '\' and ']' are escaped in a parameter's value.
    text = str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_field(value: str, limit: int) -> str:
    """A header field as RFC 5424 allows it: printable ASCII without spaces, or "-"."""
    kept = "".join(ch for ch in value if "!" <= ch <= "~")[:limit]
    return kept or "-"


def syslog_message(row: AuditEvent, hostname: str) -> bytes:
    """One RFC 5424 message, framed by octet counting (RFC 6587 section 3.4.1)."""
    severity = _NOTICE if row.outcome == "success" else _WARNING
    fields = row_fields(row)
    params = " ".join(
        f'{name}="{_sd_value(fields[name])}"'
        for name in ("seq", "tenant", "site", "actor", "target", "outcome", "source", "hash")
    )
    header = " ".join(
        (
            f"<{_FACILITY * 8 + severity}>1",
            fields["at"].replace("+00:00", "Z"),
            _header_field(hostname, 255),
            "pamnode",
            "-",
            _header_field(str(row.action), 32),
            f"[{SD_ID} {params}]",
        )
    )
    # The message: the whole row as JSON, marked UTF-8 by the BOM (section 6.4).
    body = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    message = header.encode() + b" \xef\xbb\xbf" + body.encode()
    return str(len(message)).encode() + b" " + message


class Output(Protocol):
    name: str

    def last_sent(self) -> int:
        """The `chain_seq` of the last row delivered (0: none)."""
        ...

    async def send(self, rows: Sequence[AuditEvent]) -> None:
        """Deliver the rows, in order, and remember the last; OSError when it could not."""
        ...

    async def close(self) -> None: ...


def _write_private(path: Path, data: bytes) -> None:
    """Replace `path` whole (a crash leaves the old file or the new one, never half)."""
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)


@dataclass(frozen=True)
class SyslogTarget:
    host: str
    port: int
    # None: plain TCP.
    tls: ssl.SSLContext | None
    hostname: str


class SyslogOutput:
    """RFC 5424 over one TCP (or TLS) connection, opened again after the collector left."""

    name = "syslog"

    def __init__(self, target: SyslogTarget, cursor_file: Path) -> None:
        self._target = target
        self._cursor_file = cursor_file
        self._connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    def last_sent(self) -> int:
        try:
            return int(self._cursor_file.read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    async def _writer(self) -> asyncio.StreamWriter:
        if self._connection is not None:
            reader, writer = self._connection
            # A collector that stopped closed its end: writing there would lose the rows
            # (the kernel takes them, the peer answers with a reset), so connect again.
            if not reader.at_eof() and not writer.is_closing():
                return writer
            await self.close()
        target = self._target
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                target.host,
                target.port,
                ssl=target.tls,
                server_hostname=target.host if target.tls is not None else None,
            ),
            timeout=10,
        )
        self._connection = (reader, writer)
        return writer

    async def send(self, rows: Sequence[AuditEvent]) -> None:
        writer = await self._writer()
        try:
            writer.write(b"".join(syslog_message(row, self._target.hostname) for row in rows))
            await asyncio.wait_for(writer.drain(), timeout=30)
        except (OSError, TimeoutError):
            await self.close()
            raise
        await asyncio.to_thread(
            _write_private, self._cursor_file, f"{rows[-1].chain_seq}\n".encode()
        )

    async def close(self) -> None:
        if self._connection is None:
            return
        _, writer = self._connection
        self._connection = None
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


class JsonLinesOutput:
    """One JSON object a line, appended; the file's last line is its cursor."""

    name = "json-lines"

    def __init__(self, path: Path) -> None:
        self._path = path

    def last_sent(self) -> int:
        try:
            with self._path.open("rb") as file:
                file.seek(0, os.SEEK_END)
                size = file.tell()
                file.seek(max(0, size - 256 * 1024))
                tail = file.read().splitlines()
        except FileNotFoundError:
            return 0
        for line in reversed(tail):
            try:
                return int(json.loads(line)["seq"])
            except (ValueError, KeyError, TypeError):
                continue
        return 0

    async def send(self, rows: Sequence[AuditEvent]) -> None:
        lines = b"".join(
            json.dumps(row_fields(row), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            for row in rows
        )

        def append() -> None:
            descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "ab") as file:
                file.write(lines)
                file.flush()
                os.fsync(file.fileno())

        await asyncio.to_thread(append)

    async def close(self) -> None:
        pass


async def _rows_after(
    database: async_sessionmaker[AsyncSession], cursor: int
) -> Sequence[AuditEvent]:
    async with database() as db:
        return await linked_after(db, cursor, BATCH)


async def follow(database: async_sessionmaker[AsyncSession], output: Output) -> None:
    """Deliver every row past the output's cursor, in order, for as long as the node runs."""
    cursor = await asyncio.to_thread(output.last_sent)
    backoff = POLL_S
    failing = False
    try:
        while True:
            try:
                rows = await _rows_after(database, cursor)
                if rows:
                    await output.send(rows)
                    cursor = rows[-1].chain_seq or cursor
            except (OSError, TimeoutError, SQLAlchemyError) as exc:
                if not failing:
                    log.warning("audit %s: delivery stopped, will retry: %s", output.name, exc)
                failing = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            if failing:
                log.warning("audit %s: delivering again from row %d", output.name, cursor)
            failing, backoff = False, POLL_S
            if len(rows) < BATCH:
                await asyncio.sleep(POLL_S)
    finally:
        await output.close()
