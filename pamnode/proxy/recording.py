"""What the main's SSH proxy keeps of a channel it carries, in the session's recording
directory (the same kinds the Sessions report serves):

- a shell: the typescript, every byte the host sent back (what the user saw), and the same
  output with its timing, the terminal's size and its resizes as asciicast v2 (replayed as it
  happened by the console's player; https://docs.asciinema.org/manual/asciicast/v2/);
- an exec: the command and its exit status;
- SFTP (and scp, which speaks SFTP): one line per file operation the client asked for, with
  the bytes written to or read from each file when it is closed, and a line for each the
  server refused (a client may carry on regardless: sftp reading commands from stdin does).

Keystrokes are not kept: they may hold passwords typed at a prompt.
"""

import codecs
import contextlib
import json
import struct
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol

from pamnode.sessions.live_shell import ShellFeed
from pamnode.sessions.params import ASCIICAST, COMMANDS, FILES, TYPESCRIPT


class Recorder(Protocol):
    def from_client(self, data: bytes) -> None: ...

    def from_target(self, data: bytes) -> None: ...

    def exited(self, status: int | None, signal: str | None) -> None: ...

    def close(self) -> list[str]:
        """Finish the files; the kinds written."""
        ...


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _open(directory: Path, kind: str) -> IO[bytes]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return (directory / kind).open("wb")


class ShellRecorder:
    """A shell's output as a typescript and as an asciicast (v2: a header line, then one
    `[seconds, code, data]` line per event: "o" output, "r" a resize to "COLSxROWS"), each
    event handed to the shell's live feed as well (Monitor)."""

    def __init__(
        self, directory: Path, width: int, height: int, term: str | None, feed: ShellFeed
    ) -> None:
        self._feed = feed
        self._typescript = _open(directory, TYPESCRIPT)
        self._cast = _open(directory, ASCIICAST)
        self._started = time.monotonic()
        # asciicast holds text: bytes cut inside a UTF-8 character wait for the rest.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        header = {
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": int(time.time()),
            "env": {"TERM": term or ""},
        }
        self._cast.write(json.dumps(header).encode() + b"\n")

    def _event(self, code: str, data: str) -> None:
        moment = round(time.monotonic() - self._started, 6)
        line = json.dumps([moment, code, data], ensure_ascii=False)
        self._cast.write(line.encode() + b"\n")
        self._feed.event((moment, code, data))

    def from_client(self, data: bytes) -> None:
        pass

    def from_target(self, data: bytes) -> None:
        self._typescript.write(data)
        text = self._decoder.decode(data)
        if text:
            self._event("o", text)

    def resized(self, width: int, height: int) -> None:
        self._event("r", f"{width}x{height}")

    def exited(self, status: int | None, signal: str | None) -> None:
        pass

    def close(self) -> list[str]:
        rest = self._decoder.decode(b"", final=True)
        if rest:
            self._event("o", rest)
        self._typescript.close()
        self._cast.close()
        return [TYPESCRIPT, ASCIICAST]


class CommandRecorder:
    def __init__(self, directory: Path, command: str) -> None:
        self._file = _open(directory, COMMANDS)
        self._line(f"$ {command}")

    def _line(self, text: str) -> None:
        self._file.write(f"{_stamp()} {text}\n".encode())

    def from_client(self, data: bytes) -> None:
        pass

    def from_target(self, data: bytes) -> None:
        pass

    def exited(self, status: int | None, signal: str | None) -> None:
        self._line(f"exit status {status}" if signal is None else f"ended by signal {signal}")

    def close(self) -> list[str]:
        self._file.close()
        return [COMMANDS]


# SFTP version 3 (draft-ietf-secsh-filexfer-02, what OpenSSH speaks): the packet types read.
_VERSION, _OPEN, _CLOSE, _READ, _WRITE, _SETSTAT = 2, 3, 4, 5, 6, 9
_OPENDIR, _REMOVE, _MKDIR, _RMDIR, _RENAME, _SYMLINK = 11, 13, 14, 15, 18, 20
_EXTENDED, _STATUS, _HANDLE, _DATA = 200, 101, 102, 103
_OK = 0
_OPEN_FLAGS = {0x01: "read", 0x02: "write", 0x04: "append", 0x08: "create", 0x10: "truncate"}
_ONE_PATH = {_SETSTAT: "setstat", _OPENDIR: "list", _REMOVE: "remove", _MKDIR: "mkdir"}
_ONE_PATH |= {_RMDIR: "rmdir"}
_TWO_PATHS = {_RENAME: "rename", _SYMLINK: "symlink"}
_EXTENDED_TWO_PATHS = {"posix-rename@openssh.com": "rename", "hardlink@openssh.com": "link"}
# A packet longer than this is not SFTP as OpenSSH sends it: the log stops (the bytes still flow).
_PACKET_LIMIT = 4 * 1024 * 1024
# The packets that carry file data, and how much of one is read: the type, the request id, the
# handle (at most 256 bytes, the protocol says), the offset of a WRITE and the data's length.
_DATA_CARRIERS = (_WRITE, _DATA)
_HEAD_BYTES = 1 + 4 + 4 + 256 + 8 + 4


class _Reader:
    """Fields of one SFTP packet, after its length and type."""

    def __init__(self, body: memoryview) -> None:
        self._body, self._at = body, 0

    def uint32(self) -> int:
        (value,) = struct.unpack_from(">I", self._body, self._at)
        self._at += 4
        return int(value)

    def string(self) -> bytes:
        size = self.uint32()
        value = bytes(self._body[self._at : self._at + size])
        self._at += size
        return value

    def skip_string(self) -> int:
        size = self.uint32()
        self._at += size
        return size


class _Packets:
    """Cuts one direction of an SFTP stream into packets and hands each to `handle`.

    The file data of a WRITE or a DATA packet is never buffered nor copied: only its head (up
    to the data's length) is handed on, and the rest is skipped as it comes. That was most of
    the log's cost while copying files, which it counts and does not keep."""

    def __init__(self, handle: Callable[[int, _Reader], None]) -> None:
        self._buffer = bytearray()
        self._handle = handle
        # Bytes of the current packet still to come and not needed.
        self._skip = 0
        self.broken = False

    def feed(self, data: bytes) -> None:
        if self.broken:
            return
        if self._skip >= len(data):
            self._skip -= len(data)
            return
        self._buffer += memoryview(data)[self._skip :]
        self._skip = 0
        while len(self._buffer) >= 5:
            (length,) = struct.unpack_from(">I", self._buffer)
            if length > _PACKET_LIMIT or length == 0:
                self.broken = True
                self._buffer.clear()
                return
            wanted = min(length, _HEAD_BYTES) if self._buffer[4] in _DATA_CARRIERS else length
            if len(self._buffer) < 4 + wanted:
                return
            packet = memoryview(bytes(self._buffer[4 : 4 + wanted]))
            self._skip = max(0, 4 + length - len(self._buffer))
            del self._buffer[: 4 + length]
            # A packet this log cannot read is still carried.
            with contextlib.suppress(struct.error, UnicodeDecodeError):
                self._handle(packet[0], _Reader(packet[1:]))


class SftpRecorder:
    def __init__(self, directory: Path) -> None:
        self._file = _open(directory, FILES)
        self._requests = _Packets(self._request)
        self._replies = _Packets(self._reply)
        # Request id of an OPEN -> its path; the server's handle -> [path, written, read].
        self._opening: dict[int, str] = {}
        # Request id of an operation logged -> its line, until the server answers.
        self._asked: dict[int, str] = {}
        self._open: dict[bytes, list[str | int]] = {}
        # Request id of a READ -> its handle, until the server answers.
        self._reading: dict[int, bytes] = {}

    def _line(self, text: str) -> None:
        self._file.write(f"{_stamp()} {text}\n".encode())

    def _ask(self, request_id: int, text: str) -> None:
        """Log an operation, and keep its line until the server answers (a refusal names it)."""
        self._line(text)
        self._asked[request_id] = text

    def from_client(self, data: bytes) -> None:
        self._requests.feed(data)

    def from_target(self, data: bytes) -> None:
        self._replies.feed(data)

    def _request(self, kind: int, fields: _Reader) -> None:
        if kind not in (_OPEN, _CLOSE, _READ, _WRITE, _EXTENDED, *_ONE_PATH, *_TWO_PATHS):
            return
        request_id = fields.uint32()
        if kind == _WRITE:
            handle = fields.string()
            fields.uint32(), fields.uint32()  # the 64-bit offset
            self._count(handle, 1, fields.skip_string())
        elif kind == _READ:
            # Counted from the server's DATA answers: a client may ask beyond the end.
            self._reading[request_id] = fields.string()
        elif kind == _OPEN:
            path = fields.string().decode()
            flags = fields.uint32()
            modes = ", ".join(name for bit, name in _OPEN_FLAGS.items() if flags & bit)
            self._ask(request_id, f"open {path} ({modes})")
            self._opening[request_id] = path
        elif kind == _CLOSE:
            self._closed(fields.string())
        elif kind in _ONE_PATH:
            self._ask(request_id, f"{_ONE_PATH[kind]} {fields.string().decode()}")
        elif kind in _TWO_PATHS:
            first, second = fields.string().decode(), fields.string().decode()
            self._ask(request_id, f"{_TWO_PATHS[kind]} {first} -> {second}")
        elif (name := fields.string().decode()) in _EXTENDED_TWO_PATHS:
            first, second = fields.string().decode(), fields.string().decode()
            self._ask(request_id, f"{_EXTENDED_TWO_PATHS[name]} {first} -> {second}")

    def _reply(self, kind: int, fields: _Reader) -> None:
        if kind == _VERSION:  # the one answer without a request id
            return
        request_id = fields.uint32()
        asked = self._asked.pop(request_id, None)
        path = self._opening.pop(request_id, None)
        if kind == _HANDLE and path is not None:
            self._open[fields.string()] = [path, 0, 0]
        elif kind == _STATUS and asked is not None and (status := fields.uint32()) != _OK:
            reason = fields.string().decode() or f"status {status}"
            self._line(f"refused: {asked} ({reason})")
        elif kind in (_DATA, _STATUS):
            handle = self._reading.pop(request_id, None)
            if handle is not None and kind == _DATA:
                self._count(handle, 2, fields.skip_string())

    def _count(self, handle: bytes, field: int, size: int) -> None:
        if (held := self._open.get(handle)) is not None:
            held[field] = int(held[field]) + size

    def _closed(self, handle: bytes) -> None:
        if (held := self._open.pop(handle, None)) is not None:
            path, written, read = held
            self._line(f"close {path}: {written} bytes written, {read} bytes read")

    def exited(self, status: int | None, signal: str | None) -> None:
        pass

    def close(self) -> list[str]:
        for handle in list(self._open):
            self._closed(handle)
        if self._requests.broken or self._replies.broken:
            self._line("the stream stopped looking like SFTP; later operations are not listed")
        self._file.close()
        return [FILES]
