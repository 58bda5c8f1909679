"""`pamnode audit verify`'s walk along the hash chain: every linked row in chain order, its
place, its previous hash and its own hash recomputed, then the head; the first break found is
named (its row, its time, what differs)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pamnode.audit.chain import GENESIS, row_hash
from pamnode.audit.models import AuditChainHead, AuditEvent
from pamnode.audit.service import linked_after

# Rows read at a time: the walk holds one batch in memory, whatever the trail's length.
BATCH = 1000


@dataclass(frozen=True)
class Break:
    row_id: int | None
    at: datetime | None
    problem: str

    def described(self) -> str:
        if self.row_id is None:
            return self.problem
        when = self.at.isoformat() if self.at is not None else "?"
        return f"row {self.row_id} ({when}): {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    # Rows walked and found linked, and rows written before the chain began.
    linked: int
    unlinked: int
    broken: Break | None


async def _linked_rows(db: AsyncSession) -> AsyncIterator[AuditEvent]:
    after = 0
    while True:
        batch = await linked_after(db, after, BATCH)
        for row in batch:
            yield row
        if len(batch) < BATCH:
            return
        after = batch[-1].chain_seq or after
        # Rows already checked need not stay in the session's identity map.
        db.expunge_all()


def _check(row: AuditEvent, seq: int, prev: str) -> str:
    """What is wrong with `row` as the chain's `seq`th row after `prev`; "" when nothing."""
    if row.chain_seq != seq:
        last = (row.chain_seq or seq) - 1
        missing = f"{seq}" if last == seq else f"{seq} to {last}"
        return f"the rows before it are missing (chain places {missing} were removed)"
    if row.prev_hash != prev:
        return "its link to the row before does not match (a row before it was replaced)"
    if row.row_hash != row_hash(prev, row):
        return (
            "its fields do not match its hash (edited after it was written: one of at, "
            "tenant, site, actor, action, target, outcome, source, details)"
        )
    return ""


async def verify_chain(db: AsyncSession) -> ChainReport:
    """Walk the chain; the first break, if any."""
    seq, prev, linked = 0, GENESIS, 0
    async for row in _linked_rows(db):
        problem = _check(row, seq + 1, prev)
        if problem:
            return ChainReport(linked, 0, Break(row.id, row.at, problem))
        seq, prev, linked = seq + 1, row.row_hash or "", linked + 1
    head = await db.get(AuditChainHead, 1)
    if head is None:
        return ChainReport(linked, 0, Break(None, None, "the chain's head row is missing"))
    if head.seq != seq or head.hash != prev:
        lost = head.seq - seq
        problem = (
            f"the chain's last {lost} row(s) are missing (removed from its end)"
            if lost > 0
            else "the chain's head does not match its last row"
        )
        return ChainReport(linked, 0, Break(None, None, problem))
    unlinked = await _unlinked(db)
    if unlinked.broken is not None:
        return ChainReport(linked, unlinked.count, unlinked.broken)
    return ChainReport(linked, unlinked.count, None)


@dataclass(frozen=True)
class _Unlinked:
    count: int
    broken: Break | None


async def _unlinked(db: AsyncSession) -> _Unlinked:
    """Rows without a place: fine before the chain's first row (written before it began),
    a break after (a row slipped in, or one whose link was erased)."""
    first = await db.scalar(
        select(func.min(AuditEvent.id)).where(AuditEvent.chain_seq.is_not(None))
    )
    unlinked = select(AuditEvent).where(AuditEvent.chain_seq.is_(None))
    count = await db.scalar(select(func.count()).select_from(unlinked.subquery())) or 0
    if first is not None:
        late = await db.scalar(
            unlinked.where(AuditEvent.id > first).order_by(AuditEvent.id).limit(1)
        )
        if late is not None:
            problem = "it has no place in the chain (inserted, or its link erased, after it began)"
            return _Unlinked(count, Break(late.id, late.at, problem))
    return _Unlinked(count, None)
