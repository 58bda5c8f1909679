"""The in-process worker pool: runs job coroutines under a concurrency limit.

The database is the record of every job, and its queue: jobs beyond the limit wait there as
rows, not here as tasks. Whenever a slot is free (or `kick` says new jobs were queued), the
pool asks its `Taker` for that many of the oldest queued jobs. It holds only what runs now,
so that a long-poll can wait for a job's next change and a cancel can reach its coroutine.
"""

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger("pamnode.jobs")

Work = Callable[[], Awaitable[object]]
# Records that a job's work broke outside its own error handling, so it does not stay running.
CrashHandler = Callable[[str, BaseException], Awaitable[None]]
# Records that a user cancelled a job before its work could (e.g. while it waited for a slot).
CancelHandler = Callable[[str], Coroutine[Any, Any, None]]
# Up to `free` queued jobs not among `running`, oldest first, each with the work that runs it.
Taker = Callable[[int, frozenset[str]], Awaitable[list[tuple[str, Work]]]]
# Takes how long a job ran, in seconds, from the take to its end.
Timer = Callable[[float], None]
# A taker that failed (the database away) is asked again after this pause.
RETAKE_S = 1.0


class BrokenJob(Exception):
    """Raised by a `Taker` (from the error as its cause) for a job it could not start: the
    pool records that job's crash and takes again, so one bad job never blocks the queue."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} broke as it was taken")
        self.job_id = job_id


class JobPool:
    def __init__(
        self,
        concurrency: int,
        on_crash: CrashHandler | None = None,
        on_cancel: CancelHandler | None = None,
        on_end: Timer | None = None,
    ) -> None:
        self._limit = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Set, and replaced, at each change of a job: long-polls wake on the next change.
        # Weak: an event nobody waits on any more goes with its last waiter.
        self._changes: weakref.WeakValueDictionary[str, asyncio.Event] = (
            weakref.WeakValueDictionary()
        )
        # Likewise for a change of any job (a peer's feed waits on this).
        self._any_change = asyncio.Event()
        self._wake = asyncio.Event()
        self._filling: asyncio.Task[None] | None = None
        self._on_crash = on_crash
        self._on_cancel = on_cancel
        # Records of cancels still being written, by job: kept so that they are not collected
        # midway, and so that the queue does not take such a job again meanwhile (a write its
        # coroutine began may still land: `states.to_the_end`).
        self._recording: dict[str, asyncio.Task[None]] = {}
        # Jobs a user cancelled, as opposed to jobs stopped because the node shuts down:
        # only the first become "cancelled"; the others are picked up again after a restart.
        self._cancelled: set[str] = set()
        self._on_end = on_end
        # When each job taken from the queue started (not those followed again after a
        # restart: they did not start then).
        self._taken_at: dict[str, float] = {}

    def fill_from(self, take: Taker) -> None:
        """Start taking queued jobs into free slots, now and after every change."""
        self._filling = asyncio.create_task(self._fill(take), name="job queue")
        self.kick()

    def kick(self) -> None:
        """Jobs were queued: take them if there are free slots."""
        self._wake.set()

    async def _fill(self, take: Taker) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            free = self._limit - len(self._tasks)
            if free <= 0:
                continue
            try:
                taken = await take(free, frozenset(self._tasks) | set(self._recording))
            except BrokenJob as broken:
                log.exception("job %s failed as it was taken", broken.job_id)
                if self._on_crash is not None:
                    await self._on_crash(broken.job_id, broken.__cause__ or broken)
                self.kick()
                continue
            except Exception:
                log.exception("could not take queued jobs; trying again in %s s", RETAKE_S)
                await asyncio.sleep(RETAKE_S)
                self.kick()
                continue
            for job_id, work in taken:
                if self.submit(job_id, work):
                    self._taken_at[job_id] = time.monotonic()
            if len(taken) == free:
                # Perhaps more wait: look again once these are under way.
                self.kick()

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
        self.kick()
        by_user = job_id in self._cancelled
        self._cancelled.discard(job_id)
        taken_at = self._taken_at.pop(job_id, None)
        # A job stopped because the node stops has not ended: it goes on after the restart.
        if taken_at is not None and self._on_end is not None and (by_user or not task.cancelled()):
            self._on_end(time.monotonic() - taken_at)
        if not (task.cancelled() and by_user and self._on_cancel is not None):
            self.changed(job_id)
            return
        # Wake long-polls and the cancelling request only once the cancel is on record.
        recording = asyncio.get_running_loop().create_task(self._on_cancel(job_id))
        self._recording[job_id] = recording
        recording.add_done_callback(lambda _: self._recorded(job_id))

    def _recorded(self, job_id: str) -> None:
        self._recording.pop(job_id, None)
        self.changed(job_id)

    def running(self, job_id: str) -> bool:
        return job_id in self._tasks

    def changed(self, job_id: str) -> None:
        """Wake whoever waits on this job, or on any job: its state has just changed."""
        event = self._changes.pop(job_id, None)
        if event is not None:
            event.set()
        self._any_change.set()
        self._any_change = asyncio.Event()

    def watch(self, job_id: str) -> asyncio.Event:
        """An event set at the job's next change on this node.

        Take it before reading the job's state, so that a change in between is not missed.
        """
        event = self._changes.get(job_id)
        if event is None:
            event = self._changes[job_id] = asyncio.Event()
        return event

    def watch_all(self) -> asyncio.Event:
        """An event set at the next change of any job on this node (taken before reading)."""
        return self._any_change

    async def wait(self, job_id: str, timeout_s: float) -> None:
        """Return at the job's next change (or at once if it is not running here)."""
        if job_id in self._tasks:
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
        if self._filling is not None:
            self._filling.cancel()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def until(event: asyncio.Event, timeout_s: float) -> None:
    """Wait for `event` (a `watch`), at most `timeout_s`."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout_s)
