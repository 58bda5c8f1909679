"""The text a terminal showed, as lines a search can index: escape sequences dropped, each line
with the moment it was complete on the screen (when the output has timing).

Not a terminal emulator: cursor moves are ignored, so a full-screen program's text comes out
in the order it was drawn. What a person types at a shell comes out as the line they saw:
the shell's echo, with backspaces applied and a line redrawn after a carriage return (as
readline does) taking the place of what was there.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum, auto

ESC, BEL = "\x1b", "\x07"
# Lines shown within this many seconds of the chunk's first go into one chunk (an `ls` is
# one chunk; a command typed later is its own), up to this many characters.
CHUNK_SPAN_S = 1.0
CHUNK_CHARS = 2000


class _State(Enum):
    TEXT = auto()
    ESCAPE = auto()
    # ESC ( B and its kind: one more character.
    CHARSET = auto()
    CSI = auto()
    # OSC, DCS, SOS, PM, APC: until BEL or ESC \.
    STRING = auto()
    STRING_ESCAPE = auto()


@dataclass(frozen=True)
class Line:
    text: str
    # Seconds into the recording when the line was complete; None without timing.
    at: float | None


@dataclass
class Lines:
    """Feed output (with its moment), take the lines; at most `budget` characters in all."""

    budget: int
    lines: list[Line] = field(default_factory=list)
    _state: _State = _State.TEXT
    _current: list[str] = field(default_factory=list)
    _at: float | None = None
    _carriage_return: bool = False

    @property
    def full(self) -> bool:
        return self.budget <= 0

    def feed(self, text: str, at: float | None = None) -> None:
        for char in text:
            if self.full:
                return
            self._char(char, at)

    def finish(self) -> list[Line]:
        self._end_line()
        return self.lines

    def _char(self, char: str, at: float | None) -> None:
        state = self._state
        if state is _State.TEXT:
            self._text(char, at)
        elif state is _State.ESCAPE:
            if char == "[":
                self._state = _State.CSI
            elif char in "]PX^_":
                self._state = _State.STRING
            elif char in "()*+-./#%":
                self._state = _State.CHARSET
            else:
                self._state = _State.TEXT
        elif state is _State.CHARSET:
            self._state = _State.TEXT
        elif state is _State.CSI:
            if "\x40" <= char <= "\x7e":
                self._state = _State.TEXT
        elif state is _State.STRING:
            if char == BEL:
                self._state = _State.TEXT
            elif char == ESC:
                self._state = _State.STRING_ESCAPE
        else:  # STRING_ESCAPE: ESC \ ends the string; anything else goes on with it
            self._state = _State.TEXT if char == "\\" else _State.STRING

    def _text(self, char: str, at: float | None) -> None:
        if self._carriage_return:
            self._carriage_return = False
            if char != "\n":
                # A line redrawn from its start replaces what was shown.
                self._current.clear()
        if char == "\n":
            self._end_line()
        elif char == "\r":
            self._carriage_return = True
        elif char == ESC:
            self._state = _State.ESCAPE
        elif char == "\b":
            if self._current:
                self._current.pop()
        elif char == "\t":
            self._current.append(" ")
        elif char >= " " and char != "\x7f":
            self._current.append(char)
            self._at = at

    def _end_line(self) -> None:
        text = "".join(self._current).strip()
        self._current.clear()
        if text:
            text = text[: self.budget]
            self.budget -= len(text) + 1
            self.lines.append(Line(text, self._at))


def text_lines(text: str, budget: int) -> list[Line]:
    """The lines of output without timing."""
    lines = Lines(budget)
    lines.feed(text)
    return lines.finish()


@dataclass(frozen=True)
class Chunk:
    text: str
    # When every line of the chunk was on the screen; None without timing.
    at: float | None


def chunks(lines: list[Line]) -> Iterator[Chunk]:
    """Lines grouped as the search index keeps them: a hit points at one chunk's moment."""
    group: list[Line] = []
    size = 0
    for line in lines:
        if group and (
            size + len(line.text) > CHUNK_CHARS
            or (
                line.at is not None
                and group[0].at is not None
                and line.at - group[0].at > CHUNK_SPAN_S
            )
        ):
            yield _chunk(group)
            group, size = [], 0
        group.append(line)
        size += len(line.text) + 1
    if group:
        yield _chunk(group)


def _chunk(group: list[Line]) -> Chunk:
    moments = [line.at for line in group if line.at is not None]
    return Chunk("\n".join(line.text for line in group), max(moments) if moments else None)
