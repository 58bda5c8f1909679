"""The live feed of an SSH-proxy shell (Monitor): what a late watcher is first given, what
each watcher gets after, what the owner is told, and the ends of a watch."""

from __future__ import annotations

from pamnode.sessions import live_shell
from pamnode.sessions.live_shell import ShellFeed


def _feed() -> tuple[ShellFeed, list[str]]:
    told: list[str] = []
    return ShellFeed(80, 24, told.append), told


def _drain(watcher) -> list:
    items = []
    while not watcher.queue.empty():
        items.append(watcher.queue.get_nowait())
    return items


async def test_a_late_watcher_gets_the_screen_so_far_then_each_event():
    feed, told = _feed()
    feed.event((0.1, "o", "$ echo one\r\none\r\n"))
    feed.event((0.2, "r", "132x40"))
    watcher, start = feed.join("aud")
    assert (start.width, start.height, start.init) == (132, 40, "$ echo one\r\none\r\n")
    feed.event((0.3, "o", "two"))
    assert _drain(watcher) == [(0.3, "o", "two")]
    assert told == [
        "Being watched, read-only, by: aud. Every watch is recorded in the session's details."
    ]
    other, _ = feed.join("boss")
    assert told[-1].startswith("Being watched, read-only, by: aud, boss.")
    feed.leave(watcher)
    feed.leave(other)
    assert told[-1] == "No longer watched."


async def test_only_the_tail_of_a_long_output_is_kept(monkeypatch):
    monkeypatch.setattr(live_shell, "TAIL_CHARS", 10)
    feed, _ = _feed()
    feed.event((0.1, "o", "0123456789"))
    feed.event((0.2, "o", "abcde"))
    _, start = feed.join("aud")
    assert start.init == "56789abcde"


async def test_the_end_of_the_channel_ends_every_watch_after_what_it_was_given():
    feed, told = _feed()
    watcher, _ = feed.join("aud")
    feed.event((0.1, "o", "bye"))
    feed.end()
    assert _drain(watcher) == [(0.1, "o", "bye"), None]
    # A watch that comes after the end ends at once; the owner, gone, is told nothing more.
    late, _ = feed.join("late")
    assert _drain(late) == [None]
    feed.leave(watcher)
    assert len(told) == 1


async def test_a_watcher_too_far_behind_is_dropped_and_the_owner_told(monkeypatch):
    monkeypatch.setattr(live_shell, "QUEUE_LIMIT", 3)
    feed, told = _feed()
    slow, _ = feed.join("slow")
    for moment in range(5):
        feed.event((moment, "o", "x"))
    assert slow.fell_behind and _drain(slow) == [None]
    assert told[-1] == "No longer watched."
