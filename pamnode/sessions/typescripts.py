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
import re
from collections.abc import Iterator
from pathlib import Path

from pamnode.sessions.params import ASCIICAST, TYPESCRIPT
from pamnode.sessions.terminal_text import text_lines

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


def _writes(data: bytes, timing: str) -> Iterator[tuple[float, bytes]]:
    """Each write of the typescript with its moment (seconds from the start). The header
    before them and the footer after them are guacd's own, outside the timing."""
    offset = len(HEADER) if data.startswith(HEADER) else 0
    end = len(data) - len(FOOTER) if data.endswith(FOOTER) else len(data)
    at = 0.0
    for line in timing.splitlines():
        try:
            delay, count = line.split()
            at += float(delay)
            size = int(count)
        except ValueError:
            break
        piece = data[offset : min(offset + size, end)]
        offset += size
        if piece:
            yield round(at, 6), piece
    # What guacd wrote without its timing line (it stopped short): shown at the last moment.
    if offset < end:
        yield round(at, 6), data[offset:end]


def _size(text: str) -> tuple[int, int]:
    columns = [int(column) for _, column in _POSITION.findall(text)]
    columns += [int(column) for column in _COLUMN.findall(text)]
    rows = [int(row) for row, _ in _POSITION.findall(text)]
    rows += [int(row) for row in _ROW.findall(text) + _SCROLL_REGION.findall(text)]
    lines = text_lines(text, len(text))
    longest = min(max((len(line.text) for line in lines), default=0), MAX_LINE_WIDTH)
    width = min(max([MIN_WIDTH, longest, *columns]), MAX_SIDE)
    height = min(max([MIN_HEIGHT, *rows]), MAX_SIDE)
    return width, height


def to_asciicast(directory: Path) -> bool:
    """Write the asciicast of a typescript with its timing, once guacd let go of them; False
    when there is none to write (no timing: an older guacd's, or not an SSH session)."""
    data_path, timing_path = directory / TYPESCRIPT, directory / TIMING
    if not data_path.is_file() or not timing_path.is_file():
        return False
    data = data_path.read_bytes()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    events = [(at, decoder.decode(piece)) for at, piece in _writes(data, timing_path.read_text())]
    events.append((events[-1][0] if events else 0.0, decoder.decode(b"", final=True)))
    events = [(at, text) for at, text in events if text]
    duration = events[-1][0] if events else 0.0
    width, height = _size("".join(text for _, text in events))
    header = {
        "version": 2,
        "width": width,
        "height": height,
        "timestamp": int(timing_path.stat().st_mtime - duration),
        "env": {"TERM": "linux"},
    }
    part = directory / f"{ASCIICAST}.part"
    with part.open("w", encoding="utf-8") as cast:
        cast.write(json.dumps(header) + "\n")
        for at, text in events:
            cast.write(json.dumps([at, "o", text], ensure_ascii=False) + "\n")
    part.replace(directory / ASCIICAST)
    return True
