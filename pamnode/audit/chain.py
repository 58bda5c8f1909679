"""The hash chain over the audit trail: each row carries the hash of the row before it and its
own, SHA-256 over the previous hash and a canonical encoding of its fields (`row_hash`).

Rows are linked as their transaction commits (`_link`, a `before_commit` hook), with the
chain's head (`audit_chain_head`, one row) locked by an UPDATE first: on PostgreSQL a row
lock that several mains writing at once queue on, on SQLite the write lock. Linking at
commit rather than at `record` keeps the lock for the commit's last moment (the rest of the
transaction is flushed before it: a transaction holding the head waits on nobody), and
numbers the rows in commit order: a row with `chain_seq` N+1 is visible
only once N is, which the SIEM stream's cursor relies on.
"""

import hashlib
import json
from datetime import UTC
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from pamnode.audit.models import AuditChainHead, AuditEvent

# The previous hash of the chain's first row.
GENESIS = "0" * 64
# The key of a transaction's unlinked rows in its session's `info`.
_PENDING = "audit_chain_pending"


def canonical(event_row: AuditEvent) -> bytes:
    """The fields a row's hash covers, one way: JSON with sorted keys, times in UTC to the
    microsecond (what both databases keep). Everything but the id, which PostgreSQL gives
    from a sequence at insert, in no promised order between transactions."""
    fields: list[Any] = [
        event_row.chain_seq,
        event_row.at.astimezone(UTC).isoformat(timespec="microseconds"),
        event_row.tenant,
        event_row.site,
        event_row.actor,
        str(event_row.action),
        event_row.target,
        event_row.outcome,
        event_row.source,
        event_row.details,
    ]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(prev_hash: str, event_row: AuditEvent) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(event_row)).hexdigest()


def pending(db: AsyncSession, event_row: AuditEvent) -> None:
    """Link `event_row` when the transaction it was added to commits."""
    db.info.setdefault(_PENDING, []).append(event_row)


@event.listens_for(Session, "before_commit")
def _link(session: Session) -> None:
    rows: list[AuditEvent] = session.info.pop(_PENDING, [])
    if not rows:
        return
    # Everything else of the transaction is written first: once it holds the head, it
    # writes only its own new audit rows, which no other transaction can hold locked (a
    # transaction waiting on the head may hold locks this one's other writes would wait on).
    session.flush()
    connection = session.connection()
    seq, prev = connection.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .values(seq=AuditChainHead.seq + len(rows))
        .returning(AuditChainHead.seq, AuditChainHead.hash)
    ).one()
    for number, row in enumerate(rows, start=seq - len(rows) + 1):
        row.chain_seq = number
        row.prev_hash = prev
        row.row_hash = prev = row_hash(prev, row)
    connection.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(hash=prev))


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    # Rows of a transaction rolled back are never written: a later commit must not link them.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
