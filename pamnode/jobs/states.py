"""Job states and the transitions that write them, each in a short transaction of its own."""

from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pamnode.db.base import utcnow
from pamnode.jobs.models import Job, JobAttempt


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

Sessions = async_sessionmaker[AsyncSession]


async def update(sessions: Sessions, job_id: str, **fields: Any) -> Job:
    async with sessions.begin() as db:
        job = await db.get(Job, job_id)
        assert job is not None, f"job {job_id} vanished"
        for name, value in fields.items():
            setattr(job, name, value)
        if fields.get("state") in FINISHED and job.finished_at is None:
            job.finished_at = utcnow()
        return job


async def fail(sessions: Sessions, job_id: str, code: str, message: str, **fields: Any) -> Job:
    return await update(
        sessions, job_id, state=JobState.FAILED, error_code=code, error=message, **fields
    )


def end_open_attempts(job: Job, outcome: str, error: str) -> None:
    """Close every attempt of `job` still open, in the caller's transaction."""
    for attempt in job.attempts:
        if attempt.finished_at is None:
            attempt.outcome, attempt.error, attempt.finished_at = outcome, error, utcnow()


async def end_unfinished(
    sessions: Sessions, job_id: str, state: JobState, code: str = "", message: str = ""
) -> None:
    """End a job that can no longer end on its own (it broke, or was cancelled before it ran),
    closing its open attempts with it. A job that ended meanwhile keeps its end."""
    async with sessions.begin() as db:
        job = await db.get(Job, job_id)
        if job is None or job.state in FINISHED:
            return
        job.state, job.error_code, job.error = state, code, message
        job.finished_at = utcnow()
        end_open_attempts(job, state.value, message)


def capped(output: str, cap_bytes: int) -> str:
    """`output` cut to `cap_bytes` of UTF-8, with a line saying so when it was cut."""
    raw = output.encode()
    if len(raw) <= cap_bytes:
        return output
    kept = raw[:cap_bytes].decode(errors="ignore")
    return f"{kept}\n[pamnode: output truncated, {cap_bytes} of {len(raw)} bytes kept]\n"


async def begin_attempt(sessions: Sessions, job_id: str, peer_node: str | None) -> str:
    async with sessions.begin() as db:
        job = await db.get(Job, job_id)
        assert job is not None
        attempt = JobAttempt(job_id=job_id, number=len(job.attempts) + 1, peer_node=peer_node)
        db.add(attempt)
        await db.flush()
        return attempt.id


async def end_attempt(sessions: Sessions, attempt_id: str, outcome: str, error: str = "") -> None:
    async with sessions.begin() as db:
        attempt = await db.get(JobAttempt, attempt_id)
        assert attempt is not None
        attempt.outcome, attempt.error, attempt.finished_at = outcome, error, utcnow()


async def read(sessions: Sessions, job_id: str) -> Job:
    """The job as committed now, outside any longer-lived transaction of the caller."""
    async with sessions() as db:
        job = await db.get(Job, job_id)
        assert job is not None, f"job {job_id} vanished"
        return job
