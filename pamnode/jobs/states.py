"""Job states and the writes that change them: one short transaction per change at most.

Every write here is a Core statement that names its condition (a job already ended keeps its
end), so two writers racing on one job cannot both win, on SQLite as on PostgreSQL; and each
takes the next numbers of the node's job feed (`JobFeed`), which a main reads with a cursor.
A change that opens or closes an attempt writes the attempt in the same transaction.
"""

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Concatenate, ParamSpec, TypedDict, TypeVar, Unpack

from sqlalchemy import Update, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.core.request_id import background_task
from pamnode.db.base import new_id, utcnow
from pamnode.executors.specs import Facts
from pamnode.jobs import signals
from pamnode.jobs.models import Job, JobAttempt, JobFeed


class JobState(StrEnum):
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


FINISHED = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMED_OUT})
UNFINISHED = frozenset(set(JobState) - FINISHED)

Database = async_sessionmaker[AsyncSession]


class JobColumns(TypedDict, total=False):
    """The columns a change of a job may write: a misspelt one is a type error, not a
    statement that fails at run time."""

    state: JobState
    started_at: datetime | None
    finished_at: datetime | None
    node_signature: str | None
    peer_node: str | None
    exit_status: int | None
    output: str
    facts: Facts
    error: str
    error_code: str
    host_key: str | None
    claimed_by: str | None
    lease_until: datetime | None


log = logging.getLogger("pamnode.jobs")


P = ParamSpec("P")
T = TypeVar("T")
# Writes whose callers were cancelled, still running to their commit.
_finishing: set[asyncio.Task[Any]] = set()


def to_the_end(write: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Run a write in its own transaction to its commit even if its caller is cancelled (a
    user's cancel reaches a job's coroutine at any await): cut inside the transaction, it
    would leave the job half-written and SQLite's write lock held by a pooled connection."""

    @functools.wraps(write)
    async def shielded(*args: P.args, **kwargs: P.kwargs) -> T:
        task = asyncio.ensure_future(write(*args, **kwargs))
        _finishing.add(task)
        task.add_done_callback(_finishing.discard)
        return await asyncio.shield(task)

    return shielded


@dataclass(frozen=True)
class Change:
    """One write to one job: its columns, and the attempt it closes (with how it ended)."""

    job_id: str
    fields: JobColumns
    attempt_id: str | None = None
    outcome: str = ""
    attempt_error: str = ""
    # Only while the job is still queued (a cancel of a job no worker has taken yet).
    only_queued: bool = False


# The hot path's statements are built once (building one cost about what running it did);
# their values are parameters.
_TAKE_NUMBERS = update(JobFeed).values(seq=JobFeed.seq + bindparam("count")).returning(JobFeed.seq)
_END_ATTEMPT = (
    update(JobAttempt)
    .where(JobAttempt.id == bindparam("attempt_id"), JobAttempt.finished_at.is_(None))
    .values(
        outcome=bindparam("v_outcome"), error=bindparam("v_error"), finished_at=bindparam("v_now")
    )
)
_OPEN_ATTEMPT = insert(JobAttempt).values(
    id=bindparam("v_id"),
    job_id=bindparam("v_job_id"),
    number=select(func.count()).where(JobAttempt.job_id == bindparam("v_job_id")).scalar_subquery()
    + 1,
    peer_node=bindparam("v_peer_node"),
    started_at=bindparam("v_now"),
    outcome="running",
    error="",
)


@functools.cache
def _change_statement(columns: frozenset[str], finishing: bool, only_queued: bool) -> Update:
    """The conditional UPDATE for a change of these columns, one per shape."""
    allowed = [JobState.QUEUED.value] if only_queued else sorted(s.value for s in UNFINISHED)
    values: dict[str, Any] = {name: bindparam(f"v_{name}") for name in columns}
    if finishing:
        values["finished_at"] = func.coalesce(Job.finished_at, bindparam("v_now"))
    return (
        update(Job)
        .where(Job.id == bindparam("job_id"), Job.state.in_(allowed))
        .values(change_seq=bindparam("v_change_seq"), **values)
    )


_LOCK_FEED = select(JobFeed.seq).with_for_update()


async def lock_feed(db: AsyncSession) -> None:
    """Take the job feed's lock first, in a transaction that writes job rows without
    numbering a change (a claim, a lease's renewal) or that locks them before its writes.

    Every transaction that writes job rows takes this one lock before any job row, so on
    PostgreSQL two of them can never wait for each other's rows (a deadlock); on SQLite the
    database's write lock is the same order already."""
    conn = await db.connection()
    await conn.execute(_LOCK_FEED)


async def take_numbers(db: AsyncSession, count: int) -> int:
    """Reserve `count` numbers of the job feed; the first of them. Locks the counter until
    the caller's transaction ends, which is what keeps the numbers in commit order. Other
    nodes on the database are told when it commits (`signals.FEED`)."""
    conn = await db.connection()
    last = await conn.scalar(_TAKE_NUMBERS, {"count": count})
    assert last is not None, "the job feed's counter row is missing (migration 0007)"
    await signals.feed_moved(db)
    return int(last) - count + 1


async def write(db: AsyncSession, changes: Sequence[Change]) -> list[str]:
    """Apply `changes` in the caller's transaction; the ids of the jobs that changed (a job
    that had ended already, or left the queue for `only_queued`, keeps what it has)."""
    applied = await _apply(db, changes)
    return [change.job_id for change, done in zip(changes, applied, strict=True) if done]


async def _apply(db: AsyncSession, changes: Sequence[Change]) -> list[bool]:
    """Whether each change applied, in order."""
    if not changes:
        return []
    first = await take_numbers(db, len(changes))
    conn = await db.connection()
    now = utcnow()
    applied = []
    for number, change in enumerate(changes, start=first):
        finishing = change.fields.get("state") in FINISHED
        statement = _change_statement(frozenset(change.fields), finishing, change.only_queued)
        values = {f"v_{name}": value for name, value in change.fields.items()}
        result = await conn.execute(
            statement, {"job_id": change.job_id, "v_change_seq": number, "v_now": now, **values}
        )
        applied.append(result.rowcount == 1)
        if applied[-1] and change.attempt_id is not None:
            await _end_attempt(db, change.attempt_id, change.outcome, change.attempt_error, now)
        if applied[-1] and finishing:
            _log_end(change)
    return applied


def _log_end(change: Change) -> None:
    # Every end of a job passes here, so one line per job names it (written as the end is;
    # a transaction that then fails is rare, and retried or reported by its caller).
    state, code = change.fields["state"], change.fields.get("error_code")
    log.info(
        "job %s ended: %s%s",
        change.job_id,
        state,
        f" ({code})" if code else "",
        extra={"job_id": change.job_id, "state": str(state)},
    )


async def _end_attempt(
    db: AsyncSession, attempt_id: str, outcome: str, error: str, now: datetime
) -> None:
    conn = await db.connection()
    values = {"attempt_id": attempt_id, "v_outcome": outcome, "v_error": error}
    await conn.execute(_END_ATTEMPT, {**values, "v_now": now})


async def commit(database: Database, change: Change) -> bool:
    """Write one change, committed before this returns (even if the caller is cancelled);
    whether the job changed. Changes that come while another commit is under way are written
    together in the next transaction (`GroupCommit`)."""
    committer = _committers.get(database)
    if committer is None:
        committer = _committers[database] = GroupCommit(database)
    return await committer.commit(change)


class GroupCommit:
    """One writer of single changes per database: a change waits while a transaction is
    under way and goes with every other waiting change in the next. Jobs that end at once then
    cost one transaction (on SQLite, one turn of its single write lock) instead of one each;
    a change alone is written at once."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._waiting: list[tuple[Change, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def commit(self, change: Change) -> bool:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((change, done))
        if self._writer is None or self._writer.done():
            # Serves every job's changes: not the request that happened to start it.
            self._writer = background_task(self._write_waiting(), "job state writer")
        # Shielded: a cancelled caller's change is still written (`to_the_end`).
        return await asyncio.shield(done)

    async def _write_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            if not await self._write(group) and len(group) > 1:
                # One change may be at fault: each alone, so that only its writer hears of it.
                for one in group:
                    await self._write([one])

    async def _write(self, group: list[tuple[Change, asyncio.Future[bool]]]) -> bool:
        """The group in one transaction; False when it failed (a change alone hears why)."""
        try:
            async with self._database.begin() as db:
                applied = await _apply(db, [change for change, _ in group])
        except Exception as exc:
            if len(group) == 1:
                group[0][1].set_exception(exc)
            return False
        for (_, done), changed in zip(group, applied, strict=True):
            done.set_result(changed)
        return True


# One `GroupCommit` per database (session factory) of this process.
_committers: weakref.WeakKeyDictionary[Database, GroupCommit] = weakref.WeakKeyDictionary()


async def end(
    database: Database,
    job_id: str,
    attempt_id: str | None,
    outcome: str,
    attempt_error: str = "",
    **fields: Unpack[JobColumns],
) -> bool:
    """Close the attempt and write the job's change with it, in one transaction."""
    return await commit(database, Change(job_id, fields, attempt_id, outcome, attempt_error))


def failure(
    job_id: str,
    attempt_id: str | None,
    code: str,
    message: str,
    outcome: str = "refused",
    **fields: Unpack[JobColumns],
) -> Change:
    """The job failed with its reason, closing `attempt_id` (if any) as `outcome`."""
    failed: JobColumns = {**fields, "state": JobState.FAILED, "error_code": code, "error": message}
    return Change(job_id, failed, attempt_id, outcome, message)


async def fail(
    database: Database,
    job_id: str,
    attempt_id: str | None,
    code: str,
    message: str,
    outcome: str = "refused",
    **fields: Unpack[JobColumns],
) -> bool:
    """Write `failure` in a transaction of its own."""
    return await commit(database, failure(job_id, attempt_id, code, message, outcome, **fields))


async def time_out(
    database: Database, job_id: str, attempt_id: str, message: str, **fields: Unpack[JobColumns]
) -> bool:
    """End the job as timed out, closing its attempt likewise."""
    timed_out: JobColumns = {
        **fields,
        "state": JobState.TIMED_OUT,
        "error": message,
        "error_code": "timeout",
    }
    return await end(database, job_id, attempt_id, "timed_out", message, **timed_out)


async def end_if_queued(database: Database, job_id: str, state: JobState) -> bool:
    """End a job no worker has taken yet (a cancel); False once a worker has it."""
    return await commit(database, Change(job_id, {"state": state}, only_queued=True))


@dataclass(frozen=True)
class Opening:
    """A job's next attempt to open, with the job's change that goes with it (and the
    attempt before it to close, with how it ended)."""

    job_id: str
    peer_node: str | None
    fields: JobColumns
    ended: str | None = None
    outcome: str = ""
    error: str = ""


async def open_attempts(
    db: AsyncSession, openings: Sequence[Opening], only_queued: bool = False
) -> list[str | None]:
    """Open these attempts in the caller's transaction; each one's id, or None for a job that
    ended meanwhile (cancelled) or, `only_queued`, that left the queue meanwhile (another
    main node sharing the database took it): do not run it."""
    changes = [
        Change(
            o.job_id,
            {"peer_node": o.peer_node, **o.fields},
            o.ended,
            o.outcome,
            o.error,
            only_queued=only_queued,
        )
        for o in openings
    ]
    applied = await _apply(db, changes)
    conn = await db.connection()
    now = utcnow()
    opened: list[str | None] = []
    for opening, changed in zip(openings, applied, strict=True):
        if not changed:
            opened.append(None)
            continue
        attempt_id = new_id()
        values = {"v_id": attempt_id, "v_job_id": opening.job_id, "v_peer_node": opening.peer_node}
        await conn.execute(_OPEN_ATTEMPT, {**values, "v_now": now})
        opened.append(attempt_id)
    return opened


async def open_attempt(db: AsyncSession, opening: Opening) -> str | None:
    """`open_attempts` for one."""
    (opened,) = await open_attempts(db, [opening])
    return opened


async def end_broken(
    db: AsyncSession, job_id: str, state: JobState, code: str = "", message: str = ""
) -> None:
    """End a job that can no longer end on its own (it broke, or was cancelled before it ran),
    closing its open attempts with it, in the caller's transaction. A job that ended
    meanwhile keeps its end."""
    fields: JobColumns = {"state": state, "error_code": code, "error": message}
    if await write(db, [Change(job_id, fields)]):
        await end_open_attempts(db, [job_id], state.value, message)


async def apart(
    database: Database,
    write: Callable[Concatenate[AsyncSession, P], Awaitable[T]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`write` (one of this module's writes that take the caller's transaction) in a
    transaction of its own, to its commit even if the caller is cancelled."""

    async def in_own_transaction() -> T:
        async with database.begin() as db:
            return await write(db, *args, **kwargs)

    return await to_the_end(in_own_transaction)()


async def end_open_attempts(
    db: AsyncSession, job_ids: Sequence[str], outcome: str, error: str
) -> None:
    """Close every attempt of these jobs still open, in the caller's transaction."""
    conn = await db.connection()
    await conn.execute(
        update(JobAttempt)
        .where(JobAttempt.job_id.in_(job_ids), JobAttempt.finished_at.is_(None))
        .values(outcome=outcome, error=error, finished_at=utcnow())
    )


def capped(output: str, cap_bytes: int) -> str:
    """`output` cut to `cap_bytes` of UTF-8, with a line saying so when it was cut."""
    raw = output.encode()
    if len(raw) <= cap_bytes:
        return output
    kept = raw[:cap_bytes].decode(errors="ignore")
    return f"{kept}\n[pamnode: output truncated, {cap_bytes} of {len(raw)} bytes kept]\n"


async def read(database: Database, job_id: str) -> Job:
    """The job as committed now, outside any longer-lived transaction of the caller."""
    async with database() as db:
        job = await db.get(Job, job_id)
        assert job is not None, f"job {job_id} vanished"
        return job
