"""The live typescript of an SSH-proxy shell this node carries, for Monitor.

The SSH proxy's shell recorder (proxy/recording.py) hands every asciicast event it writes to
the shell's feed as well, and the feed hands it to each watcher at once: a watcher sees what
the owner's terminal shows, as it is shown. Through a peer the same holds: the peer's HTTP
proxy only relays the encrypted bytes of the target's SSH connection, which the main ends and
decrypts, so the stream always comes from the main that carries the channel.

A watcher who comes in the middle is first given the terminal's size and the last TAIL_CHARS
of its output, which a terminal replays into the screen the owner sees (nearly always: what
scrolled away before that is not needed to draw it). Each watcher's events wait in its own
queue; one that falls QUEUE_LIMIT events behind is dropped (its stream ends) rather than held
in memory. Watchers only read: nothing from them reaches the feed, let alone the channel.

The owner is told on their terminal who watches whenever that changes, in the words the
console's session page uses for a gateway session (`watched_notice`).
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# What a late watcher is first given of the output so far.
TAIL_CHARS = 256 * 1024
# How many events a watcher may be behind before it is dropped.
QUEUE_LIMIT = 4096

# An asciicast v2 event: seconds since the start, its code ("o" output, "r" resize), its data.
Event = tuple[float, str, str]


def watched_notice(watching: list[str]) -> str:
    """What the owner of a session reads about who watches it (Monitor)."""
    if not watching:
        return "No longer watched."
    return (
        f"Being watched, read-only, by: {', '.join(watching)}. Every watch is recorded in "
        "the session's details."
    )


@dataclass
class ShellWatcher:
    login: str
    # Events to send; None once the feed ended or this watcher fell behind.
    queue: "asyncio.Queue[Event | None]" = field(default_factory=asyncio.Queue)
    fell_behind: bool = False


@dataclass
class Start:
    """What a watcher is given first: the terminal as it is, as an asciicast header with the
    output to draw it from (`init`, as asciinema-player's live drivers read it)."""

    width: int
    height: int
    time: float
    init: str


class ShellFeed:
    def __init__(self, width: int, height: int, tell_owner: Callable[[str], None]) -> None:
        self._width, self._height = width, height
        self._tell_owner = tell_owner
        self._tail = ""
        self._started = time.monotonic()
        self._watchers: list[ShellWatcher] = []
        self.ended = False

    def event(self, event: Event) -> None:
        _, code, data = event
        if code == "o":
            self._tail = (self._tail + data)[-TAIL_CHARS:]
        elif code == "r":
            width, _, height = data.partition("x")
            self._width, self._height = int(width), int(height)
        behind = [watcher for watcher in self._watchers if watcher.queue.qsize() >= QUEUE_LIMIT]
        for watcher in self._watchers:
            watcher.queue.put_nowait(event)
        for watcher in behind:
            watcher.fell_behind = True
            self._drop(watcher)
        if behind:
            self._told()

    def join(self, login: str) -> tuple[ShellWatcher, Start]:
        watcher = ShellWatcher(login)
        start = Start(
            self._width, self._height, round(time.monotonic() - self._started, 6), self._tail
        )
        if self.ended:
            watcher.queue.put_nowait(None)
        else:
            self._watchers.append(watcher)
            self._told()
        return watcher, start

    def leave(self, watcher: ShellWatcher) -> None:
        if watcher in self._watchers:
            self._watchers.remove(watcher)
            if not self.ended:
                self._told()

    def end(self) -> None:
        """The channel ended: every watcher's stream ends after what it has been given."""
        self.ended = True
        for watcher in list(self._watchers):
            self._drop(watcher)

    def _drop(self, watcher: ShellWatcher) -> None:
        self._watchers.remove(watcher)
        if watcher.fell_behind:
            # What it has not read yet is not worth keeping: it is told why it was dropped.
            while not watcher.queue.empty():
                watcher.queue.get_nowait()
        watcher.queue.put_nowait(None)

    def _told(self) -> None:
        self._tell_owner(watched_notice([watcher.login for watcher in self._watchers]))
