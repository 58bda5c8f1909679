"""The in-process worker pool: runs job coroutines under a concurrency limit.

The database is the record of every job; this pool only holds what is running now, so that
a long-poll can wait for a job to finish and a cancel can reach its coroutine.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger("pamnode.jobs")

Work = Callable[[], Awaitable[object]]
# Records that a job's work broke outside its own error handling, so it does not stay running.
CrashHandler = Callable[[str, BaseException], Awaitable[None]]
# Records that a user cancelled a job before its work could (e.g. while it waited for a slot).
CancelHandler = Callable[[str], Coroutine[Any, Any, None]]


class JobPool:
    def __init__(
        self,
        concurrency: int,
        on_crash: CrashHandler | None = None,
        on_cancel: CancelHandler | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Set, and replaced, at each change of a job: long-polls wake on the next change.
        self._changes: dict[str, asyncio.Event] = {}
        self._on_crash = on_crash
        self._on_cancel = on_cancel
        # Records of cancels still being written, kept so that they are not collected midway.
        self._recording: set[asyncio.Task[None]] = set()
        # Jobs a user cancelled, as opposed to jobs stopped because the node shuts down:
        # only the first become "cancelled"; the others are picked up again after a restart.
        self._cancelled: set[str] = set()

    def submit(self, job_id: str, work: Work) -> bool:
        """Start the job unless it is already running here; say whether it was started."""
        if job_id in self._tasks:
            return False
        task = asyncio.create_task(self._run(job_id, work), name=f"job {job_id}")
        self._tasks[job_id] = task
        # A callback, not a `finally`: a task cancelled before its first step never runs one.
        task.add_done_callback(lambda done: self._finished(job_id, done))
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

    def _finished(self, job_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.pop(job_id, None)
        by_user = job_id in self._cancelled
        self._cancelled.discard(job_id)
        if not (task.cancelled() and by_user and self._on_cancel is not None):
            self.changed(job_id)
            return
        # Wake long-polls and the cancelling request only once the cancel is on record.
        recording = asyncio.get_running_loop().create_task(self._on_cancel(job_id))
        self._recording.add(recording)
        recording.add_done_callback(self._recording.discard)
        recording.add_done_callback(lambda _: self.changed(job_id))

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
