"""A gateway SSH session's typescript and its timing, as the asciicast v2 the console's player
replays (the SSH proxy writes its asciicast itself, proxy/recording.py).

guacd writes the typescript (a header line, then every byte the host sent) and beside it
`typescript.timing`, one line per write in scriptreplay's format: the seconds since the
previous write and how many bytes it wrote (not counting the header line before the writes
and the footer line after them, which are guacd's). It does not record the
terminal's size, which the browser's window decided: the player is given the size the output
itself shows (its cursor positions, scroll region and longest line), at least 80x24.
"""

import codecs
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from pamnode.sessions.params import ASCIICAST, TYPESCRIPT

TIMING = f"{TYPESCRIPT}.timing"
HEADER = b"[BEGIN TYPESCRIPT]\n"
FOOTER = b"\n[END TYPESCRIPT]\n"
MIN_WIDTH, MIN_HEIGHT = 80, 24
# A size read from the output is believed up to this; a long line (which the terminal
# wrapped) widens the player up to the second.
MAX_SIDE, MAX_LINE_WIDTH = 500, 160
_POSITION = re.compile(r"\x1b\[(\d+);(\d+)[Hf]")
_COLUMN = re.compile(r"\x1b\[(\d+)G")
_ROW = re.compile(r"\x1b\[(\d+)d")
_SCROLL_REGION = re.compile(r"\x1b\[\d+;(\d+)r")
# Escape sequences (CSI, OSC, two characters), for the length of a line.
_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|.)")
_LINE_BREAK = re.compile(r"[\r\n]")


def _bounds(data: BinaryIO) -> tuple[int, int]:
    """Where the writes are in the typescript: after guacd's header, before its footer."""
    start = len(HEADER) if data.read(len(HEADER)) == HEADER else 0
    end = data.seek(0, os.SEEK_END)
    if end - start >= len(FOOTER):
        data.seek(end - len(FOOTER))
        if data.read(len(FOOTER)) == FOOTER:
            end -= len(FOOTER)
    data.seek(start)
    return start, end


def _writes(data: BinaryIO, timing: TextIO) -> Iterator[tuple[float, str]]:
    """Each write of the typescript with its moment (seconds from the start), as text; read
    as it goes (a shell's output may be large)."""
    offset, end = _bounds(data)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    at = 0.0
    for line in timing:
        try:
            delay, count = line.split()
            at += float(delay)
            size = int(count)
        except ValueError:
            break
        wanted = max(0, min(size, end - offset))
        offset += size
        if text := decoder.decode(data.read(wanted)):
            yield round(at, 6), text
    # What guacd wrote without its timing line (it stopped short): shown at the last moment.
    rest = data.read(max(0, end - offset)) if offset < end else b""
    if text := decoder.decode(rest, final=True):
        yield round(at, 6), text


class _Size:
    """The terminal's size as the output shows it: the furthest cursor position, the scroll
    region, the longest line."""

    def __init__(self) -> None:
        self.width, self.height = MIN_WIDTH, MIN_HEIGHT
        self._line = 0

    def see(self, text: str) -> None:
        for row, column in _POSITION.findall(text):
            self._grow(int(column), int(row))
        for column in _COLUMN.findall(text):
            self._grow(int(column), 0)
        for row in _ROW.findall(text) + _SCROLL_REGION.findall(text):
            self._grow(0, int(row))
        *ended, current = _LINE_BREAK.split(_ESCAPE.sub("", text))
        for line in ended:
            self._grow(min(self._line + len(line), MAX_LINE_WIDTH), 0)
            self._line = 0
        self._line += len(current)
        self._grow(min(self._line, MAX_LINE_WIDTH), 0)

    def _grow(self, width: int, height: int) -> None:
        self.width = min(max(self.width, width), MAX_SIDE)
        self.height = min(max(self.height, height), MAX_SIDE)


def to_asciicast(directory: Path) -> bool:
    """Write the asciicast of a typescript with its timing, once guacd let go of them; False
    when there is none to write (no timing: an older guacd's, or not an SSH session)."""
    data_path, timing_path = directory / TYPESCRIPT, directory / TIMING
    if not data_path.is_file() or not timing_path.is_file():
        return False
    # Read twice: the header (first) holds the size, which the whole output tells.
    size, duration = _Size(), 0.0
    with (
        data_path.open("rb") as data,
        timing_path.open(encoding="ascii", errors="replace") as timing,
    ):
        for at, text in _writes(data, timing):
            size.see(text)
            duration = at
    header = {
        "version": 2,
        "width": size.width,
        "height": size.height,
        "timestamp": int(timing_path.stat().st_mtime - duration),
        "env": {"TERM": "linux"},
    }
    part = directory / f"{ASCIICAST}.part"
    with (
        data_path.open("rb") as data,
        timing_path.open(encoding="ascii", errors="replace") as timing,
        part.open("w", encoding="utf-8") as cast,
    ):
        cast.write(json.dumps(header) + "\n")
        for at, text in _writes(data, timing):
            cast.write(json.dumps([at, "o", text], ensure_ascii=False) + "\n")
    part.replace(directory / ASCIICAST)
    return True
