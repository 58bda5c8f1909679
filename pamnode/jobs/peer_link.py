"""All of this main's delegated jobs on one peer: sent in batches, followed with one feed.

A job's coroutine registers that it waits (`follow`) before it sends (`send`), so no change
can come back before someone listens. `send` puts the job in the link's outbox; one sender
posts whatever has gathered there in one `POST peer/jobs/batch`, and what gathers while that
request is under way goes in the next. One follower reads `GET peer/jobs/feed` from the cursor
stored for this peer, writes the changes of every job it follows together with the new cursor
in one transaction, then wakes those jobs' coroutines with their results. The cursor is stored
only with the changes it covers, so after a lost connection or a restart of either side the
follower asks again from there and misses nothing (`pamnode.jobs.wire` has the contract).

What the main believes of an answer is decided here, once: a result signed for another tenant
or site than the peer's URL names fails its job (`peer_signature_mismatch`); an answer that
breaks the contract fails every job it was about (`peer_answer_invalid`), which the peer is
then asked to cancel, since another peer could otherwise run them a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

from pamnode.core.errors import PeerFailure
from pamnode.core.request_id import REQUEST_ID, background_task, new_request_id
from pamnode.db.inserts import insert_or_replace
from pamnode.executors.specs import TaskResult
from pamnode.jobs import states
from pamnode.jobs.models import JobFeedCursor
from pamnode.jobs.states import Change, JobState
from pamnode.jobs.wire import (
    BATCH_MAX,
    NOW,
    PeerJobBatchIn,
    PeerJobBatchOut,
    PeerJobCancelIn,
    PeerJobFeed,
    PeerJobIn,
    PeerJobStatus,
)
from pamnode.peers.client import PeerEndpoint
from pamnode.peers.routing import Candidate

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from pamnode.core.metrics import NodeMetrics
    from pamnode.jobs.pool import JobPool
    from pamnode.peers.client import PeerClients


class LinkContext(Protocol):
    """The few things a peer link uses of its node's job context (`JobContext` has them):
    the peer client, the database, the pool to wake, the output cap and the metrics."""

    @property
    def database(self) -> async_sessionmaker[AsyncSession]: ...
    @property
    def pool(self) -> JobPool: ...
    @property
    def peers(self) -> PeerClients: ...
    @property
    def output_cap_bytes(self) -> int: ...
    @property
    def metrics(self) -> NodeMetrics: ...


log = logging.getLogger("pamnode.jobs")

LONG_POLL_S = 20
# A feed that answers at once without news is asked again only after this pause.
IMPATIENT_PAUSE_S = 2.0
# After a failed feed request, or a failure to write what it brought.
RETRY_S = 2.0
# How long a last look at the feed may take when a job reaches its deadline.
CHECK_S = 5.0
# The peer's answer to a request larger than its `max_body_bytes` (`pamnode.peers.client`).
BODY_TOO_LARGE = "body_too_large"
INVALID_ANSWER = "peer_answer_invalid"
JOB_NOT_FOUND = "job_not_found"


@dataclass
class Followed:
    attempt_id: str
    # The task's result when it ran on the peer, None when it ended otherwise.
    ended: asyncio.Future[TaskResult | None]
    running_noted: bool = False
    # When it went out to the peer (monotonic); None for a job followed again after a restart.
    sent_at: float | None = None


async def store_feed_cursor(db: AsyncSession, peer_id: str, cursor: str) -> None:
    """How far a peer's feed was read. Every main of a database reads the whole feed and
    writes this one row; the last write wins, and a main that restarts from a cursor past one
    of its jobs' ends asks the peer for that job directly (`recovery._follower`)."""
    await insert_or_replace(db, JobFeedCursor, peer_id=peer_id, cursor=cursor)


def _again(exc: PeerFailure) -> PeerFailure:
    # Each waiting job raises its own exception object: one shared across tasks would
    # collect every task's traceback.
    return PeerFailure(exc.message, code=exc.code)


class PeerLink:
    def __init__(self, ctx: LinkContext, candidate: Candidate) -> None:
        self.ctx = ctx
        self.candidate = candidate
        # Each job with what its sender learns: the request id of the batch that took it.
        self._outbox: list[tuple[PeerJobIn, asyncio.Future[str]]] = []
        # Jobs per batch: BATCH_MAX, halved while the peer refuses a batch's size.
        self._batch_size = BATCH_MAX
        self._sender: asyncio.Task[None] | None = None
        self._followed: dict[str, Followed] = {}
        self._follower: asyncio.Task[None] | None = None
        self._cursor: str | None = None
        self._cursor_lock = asyncio.Lock()
        self._trips = ctx.metrics.delegation_duration.labels(candidate.api.url)

    # --- the job's side -------------------------------------------------------------------

    def follow(self, job_id: str, attempt_id: str) -> asyncio.Future[TaskResult | None]:
        """Listen for the job's end on this peer; call before `send`."""
        ended: asyncio.Future[TaskResult | None] = asyncio.get_running_loop().create_future()
        self._followed[job_id] = Followed(attempt_id, ended)
        if self._follower is None or self._follower.done():
            self._follower = background_task(self._follow_all(), self._name("feed"))
        return ended

    def forget(self, job_id: str) -> None:
        self._followed.pop(job_id, None)

    async def send(self, body: PeerJobIn) -> str:
        """Hand the job to the peer (in a batch); raise PeerFailure if the peer did not take it.
        The request id of the batch that took it (the peer logs its jobs with it).

        Cancelled (a user's cancel) while the job waits in the outbox, it is taken out: it
        never reaches the peer. Cancelled while its batch is on the way, it waits for the
        batch's answer first, so that the cancel that follows reaches the peer after the job."""
        await self._cursor_now()
        followed = self._followed.get(body.id)
        if followed is not None:
            followed.sent_at = time.monotonic()
        sent: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        waiting = (body, sent)
        self._outbox.append(waiting)
        if self._sender is None or self._sender.done():
            self._sender = background_task(self._send_all(), self._name("sender"))
        try:
            return await asyncio.shield(sent)
        except asyncio.CancelledError:
            if any(entry is waiting for entry in self._outbox):
                self._outbox = [entry for entry in self._outbox if entry is not waiting]
            else:
                with contextlib.suppress(Exception):
                    await asyncio.shield(sent)
            raise

    async def look_up(self, job_id: str) -> None:
        """Read this followed job's state on the peer now and apply it, as the feed would
        (the feed's cursor stays). For a job recovered from a lost or restarted main: the
        cursor, which every main sharing the database moves, may have passed its end. A job
        the peer never got fails here: its sender is gone, and it is never sent again."""
        try:
            found = await self.ctx.peers.exchange(
                self.candidate.api, "GET", f"peer/jobs/{job_id}", PeerJobStatus
            )
        except PeerFailure as exc:
            if exc.code == JOB_NOT_FOUND:
                message = f"the job never reached peer node '{self.candidate.name}': it never ran"
                await self.give_up([job_id], "interrupted", message)
            # Anything else: the feed, or the job's deadline, will tell.
            return
        await self._apply([found], None)

    async def cancel(self, job_ids: list[str]) -> str:
        """Ask the peer to cancel these jobs; what went wrong, if it could not be told."""
        body = PeerJobCancelIn(ids=job_ids)
        try:
            await self.ctx.peers.exchange(
                self.candidate.api, "POST", "peer/jobs/cancel", PeerJobBatchOut, body
            )
        except PeerFailure as exc:
            return f"the peer could not be told: {exc.message}"
        return ""

    # --- sending ------------------------------------------------------------------------

    async def _send_all(self) -> None:
        while self._outbox:
            size = self._batch_size
            batch, self._outbox = self._outbox[:size], self._outbox[size:]
            body = PeerJobBatchIn(jobs=[job for job, _ in batch])
            # This task's own context: the id goes with the request, and with what it logs.
            request_id = new_request_id()
            REQUEST_ID.set(request_id)
            try:
                await self.ctx.peers.exchange(
                    self.candidate.api, "POST", "peer/jobs/batch", PeerJobBatchOut, body
                )
            except PeerFailure as exc:
                if exc.code == BODY_TOO_LARGE and len(batch) > 1:
                    # Larger than the peer takes (jobs with big scripts): half as many next,
                    # these first. One job alone that is still too large fails with the reason.
                    self._batch_size = len(batch) // 2
                    self._outbox = batch + self._outbox
                    continue
                for _, sent in batch:
                    if not sent.done():
                        sent.set_exception(_again(exc))
                continue
            for _, sent in batch:
                if not sent.done():
                    sent.set_result(request_id)
            self._batch_size = min(BATCH_MAX, self._batch_size * 2)

    # --- following ----------------------------------------------------------------------

    async def _cursor_now(self) -> str:
        """The stored cursor for this peer; for a peer never read before, its feed's present
        (asked before the first job goes out, so no change of ours can come before it)."""
        async with self._cursor_lock:
            if self._cursor is None:
                async with self.ctx.database() as db:
                    stored = await db.get(JobFeedCursor, self.candidate.peer_id)
                if stored is not None:
                    self._cursor = stored.cursor
                else:
                    now = await self._read_feed(NOW, 0)
                    await self._store([], now.cursor)
            assert self._cursor is not None
            return self._cursor

    async def _read_feed(self, after: str, wait_s: int, slack_s: float = 15) -> PeerJobFeed:
        return await self.ctx.peers.exchange(
            self.candidate.api,
            "GET",
            f"peer/jobs/feed?after={quote(after)}&wait={wait_s}",
            PeerJobFeed,
            timeout=wait_s + slack_s,
        )

    async def check(self) -> str:
        """Read the feed once more, now, briefly (a job reached its deadline): apply what it
        brings; why the peer could not be read, or "" when it could."""
        try:
            page = await self._read_feed(await self._cursor_now(), 0, CHECK_S)
            await self._apply(page.jobs, page.cursor)
        except PeerFailure as exc:
            return exc.message
        return ""

    async def _follow_all(self) -> None:
        while self._followed:
            asked = time.monotonic()
            # The feed request's id, also on the lines of the job ends it brings.
            REQUEST_ID.set(new_request_id())
            try:
                page = await self._read_feed(await self._cursor_now(), LONG_POLL_S)
                news = await self._apply(page.jobs, page.cursor)
            except PeerFailure as exc:
                if exc.code == INVALID_ANSWER:
                    await self.give_up(list(self._followed), exc.code, exc.message)
                    continue
                await asyncio.sleep(RETRY_S)
                continue
            except Exception:
                log.exception(
                    "following peer %s failed; again in %s s", self.candidate.name, RETRY_S
                )
                await asyncio.sleep(RETRY_S)
                continue
            if not news and not page.more and time.monotonic() - asked < 1:
                await asyncio.sleep(IMPATIENT_PAUSE_S)

    async def _apply(self, jobs: list[PeerJobStatus], cursor: str | None) -> bool:
        """Write what a feed page says of the jobs followed here, with its cursor (None: not
        a page, the cursor stays); whether any of them changed."""
        changes: list[Change] = []
        results: dict[str, TaskResult | None] = {}
        refused: list[str] = []
        for remote in jobs:
            followed = self._followed.get(remote.id)
            if followed is None:
                continue
            change = self._change(remote, followed)
            if change is None:
                continue
            changes.append(change)
            if remote.finished:
                results[remote.id] = remote.result() if change.outcome == "ran" else None
                if change.outcome == "refused":
                    refused.append(remote.id)
        changed = await self._store(changes, cursor)
        self._time_trips(results)
        for job_id, result in results.items():
            self._end(job_id, result)
        for job_id in changed:
            self.ctx.pool.changed(job_id)
        if refused:
            await self.cancel(refused)
        return bool(changes)

    def _change(self, remote: PeerJobStatus, followed: Followed) -> Change | None:
        if remote.finished:
            if not self.candidate.signed_here(remote.node_signature):
                message = (
                    f"peer node '{self.candidate.name}' signed the job as "
                    f"'{remote.node_signature}', not as a node of "
                    f"{self.candidate.tenant}/{self.candidate.site} that its URL names"
                )
                return states.failure(
                    remote.id, followed.attempt_id, "peer_signature_mismatch", message
                )
            remote.output = states.capped(remote.output, self.ctx.output_cap_bytes)
            return Change(remote.id, remote.outcome(), followed.attempt_id, "ran")
        if remote.state == JobState.RUNNING and not followed.running_noted:
            followed.running_noted = True
            return Change(remote.id, {"state": JobState.RUNNING, "started_at": remote.started_at})
        return None

    async def _store(self, changes: list[Change], cursor: str | None) -> list[str]:
        """The changes and the cursor that covers them (if any), in one transaction."""
        async with self.ctx.database.begin() as db:
            changed = await states.write(db, changes)
            if cursor is not None:
                await store_feed_cursor(db, self.candidate.peer_id, cursor)
        if cursor is not None:
            self._cursor = cursor
        return changed

    def _time_trips(self, job_ids: Iterable[str]) -> None:
        """How long each job took from its sending to its end coming back on the feed."""
        now = time.monotonic()
        for job_id in job_ids:
            followed = self._followed.get(job_id)
            if followed is not None and followed.sent_at is not None:
                self._trips.observe(now - followed.sent_at)

    def _end(self, job_id: str, result: TaskResult | None) -> None:
        followed = self._followed.pop(job_id, None)
        if followed is not None and not followed.ended.done():
            followed.ended.set_result(result)

    async def give_up(self, job_ids: list[str], code: str, message: str) -> None:
        """Fail these jobs for what the peer answered, and ask it to stop them."""
        await self.cancel(job_ids)
        failed = [
            states.failure(job_id, self._followed[job_id].attempt_id, code, message)
            for job_id in job_ids
            if job_id in self._followed
        ]
        async with self.ctx.database.begin() as db:
            changed = await states.write(db, failed)
        for job_id in job_ids:
            self._end(job_id, None)
        for job_id in changed:
            self.ctx.pool.changed(job_id)

    def _name(self, role: str) -> str:
        return f"peer {self.candidate.name} {role}"


class PeerLinks:
    """One link per peer and endpoint: re-establishing trust or a new token makes a new
    link, while the jobs of the old one are followed there to their end."""

    def __init__(self) -> None:
        self._links: dict[tuple[str, PeerEndpoint], PeerLink] = {}

    def get(self, ctx: LinkContext, candidate: Candidate) -> PeerLink:
        key = (candidate.peer_id, candidate.api)
        link = self._links.get(key)
        if link is None:
            link = self._links[key] = PeerLink(ctx, candidate)
        return link
