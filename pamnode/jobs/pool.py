"""The in-process worker pool: runs job coroutines under a concurrency limit.

The database is the record of every job; this pool only holds what is running now, so that
a long-poll can wait for a job to finish and a cancel can reach its coroutine.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("pamnode.jobs")

Work = Callable[[], Awaitable[object]]
# Records that a job's work broke outside its own error handling, so it does not stay running.
CrashHandler = Callable[[str, BaseException], Awaitable[None]]


class JobPool:
    def __init__(self, concurrency: int, on_crash: CrashHandler | None = None) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Set, and replaced, at each change of a job: long-polls wake on the next change.
        self._changes: dict[str, asyncio.Event] = {}
        self._on_crash = on_crash
        # Jobs a user cancelled, as opposed to jobs stopped because the node shuts down:
        # only the first become "cancelled"; the others are picked up again after a restart.
        self._cancelled: set[str] = set()

    def submit(self, job_id: str, work: Work) -> bool:
        """Start the job unless it is already running here; say whether it was started."""
        if job_id in self._tasks:
            return False
        self._tasks[job_id] = asyncio.create_task(self._run(job_id, work), name=f"job {job_id}")
        return True

    async def _run(self, job_id: str, work: Work) -> None:
        try:
            async with self._slots:
                await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The work records its own failures; this is the last line against a lost job.
            log.exception("job %s failed outside its own error handling", job_id)
            if self._on_crash is not None:
                await self._on_crash(job_id, exc)
        finally:
            self._tasks.pop(job_id, None)
            self._cancelled.discard(job_id)
            self.changed(job_id)

    def running(self, job_id: str) -> bool:
        return job_id in self._tasks

    def changed(self, job_id: str) -> None:
        """Wake whoever waits on this job: its state has just changed."""
        event = self._changes.pop(job_id, None)
        if event is not None:
            event.set()

    def watch(self, job_id: str) -> asyncio.Event | None:
        """An event set at the job's next change; None when the job is not running here.

        Take it before reading the job's state, so that a change in between is not missed.
        """
        if job_id not in self._tasks:
            return None
        return self._changes.setdefault(job_id, asyncio.Event())

    async def wait(self, job_id: str, timeout_s: float) -> None:
        """Return at the job's next change (or at once if it is not running here)."""
        await until(self.watch(job_id), timeout_s)

    def cancel(self, job_id: str) -> bool:
        task = self._tasks.get(job_id)
        if task is None:
            return False
        self._cancelled.add(job_id)
        task.cancel()
        return True

    def cancelled_by_user(self, job_id: str) -> bool:
        return job_id in self._cancelled

    async def shutdown(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until(event: asyncio.Event | None, timeout_s: float) -> None:
    """Wait for `event` (a `watch`), at most `timeout_s`; None means nothing to wait for."""
    if event is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)
