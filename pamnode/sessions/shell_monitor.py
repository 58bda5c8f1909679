"""Monitor of an SSH-proxy shell: its live typescript (sessions/live_shell.py) as server-sent
events, which asciinema-player's `eventsource` driver draws: first the terminal as it is (an
asciicast header with `init`), then each asciicast event as the owner's terminal gets it, and
an event `done` (with the reason) when the watch ends.

Who may watch, the audit and the SessionWatch row are the gateway Monitor's
(sessions/monitor.py). The stream goes one way: a watcher has nothing to type into.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import asdict

from pamnode.identity.principal import Principal
from pamnode.sessions.context import SessionContext
from pamnode.sessions.live_shell import ShellFeed, ShellWatcher, Start
from pamnode.sessions.monitor import admit, ended, session_ended
from pamnode.sessions.relay import KEEP_ALIVE_S

# Said when nothing else is, so that a watcher who left is noticed (the write fails) and
# nothing between closes a quiet stream.
KEEP_ALIVE = ": keep-alive\n\n"
FELL_BEHIND = "the watch fell too far behind the session and was ended: open Monitor again"


def _data(value: object) -> str:
    return f"data: {json.dumps(value, ensure_ascii=False)}\n\n"


async def watch_shell(
    ctx: SessionContext, principal: Principal, session_id: str
) -> AsyncIterator[str]:
    """The stream of a watch the caller may open (NotFound, Conflict, Forbidden otherwise, and
    then nothing is written)."""
    watch_id, feed = await admit(ctx, principal, session_id, ctx.shells)
    watcher, start = feed.join(principal.user.login)
    return _events(ctx, session_id, watch_id, feed, watcher, start)


async def _events(
    ctx: SessionContext,
    session_id: str,
    watch_id: str,
    feed: ShellFeed,
    watcher: ShellWatcher,
    start: Start,
) -> AsyncIterator[str]:
    try:
        yield _data(asdict(start))
        while True:
            try:
                event = await asyncio.wait_for(watcher.queue.get(), KEEP_ALIVE_S)
            except TimeoutError:
                yield KEEP_ALIVE
                continue
            if event is None:
                break
            yield _data(event)
        reason = FELL_BEHIND if watcher.fell_behind else await session_ended(ctx, session_id)
        yield f"event: done\n{_data({'reason': reason})}"
    finally:
        feed.leave(watcher)
        await asyncio.shield(ended(ctx, watch_id))
