"""The SFTP log of a proxy session (pamnode.proxy.recording): the operations a client asked for,
with the bytes written and read per file, however the stream is cut into chunks, while the
file data itself is skipped, not kept."""

import struct
from pathlib import Path

import pytest

from pamnode.proxy.recording import SftpRecorder
from pamnode.sessions.params import FILES


def _packet(kind: int, *fields: bytes) -> bytes:
    body = bytes([kind]) + b"".join(fields)
    return struct.pack(">I", len(body)) + body


def _u32(value: int) -> bytes:
    return struct.pack(">I", value)


def _str(value: bytes) -> bytes:
    return _u32(len(value)) + value


WRITTEN = [100_000, 50]
READ = 70_000
OK = _u32(0) + _str(b"") + _str(b"")
# Each request with its answer, in the order a client and a server take turns.
EXCHANGES = [
    (_packet(1, _u32(3)), _packet(2, _u32(3))),  # INIT, VERSION
    (
        _packet(3, _u32(1), _str(b"/tmp/a"), _u32(0x1A), _u32(0)),  # OPEN write|create|truncate
        _packet(102, _u32(1), _str(b"h1")),  # HANDLE
    ),
    (
        # Two WRITEs at once, as sftp pipelines them: the chunks cut across both.
        _packet(6, _u32(2), _str(b"h1"), _u32(0), _u32(0), _str(b"w" * WRITTEN[0]))
        + _packet(6, _u32(3), _str(b"h1"), _u32(0), _u32(WRITTEN[0]), _str(b"w" * WRITTEN[1])),
        _packet(101, _u32(2), OK) + _packet(101, _u32(3), OK),  # STATUS ok
    ),
    (
        _packet(5, _u32(4), _str(b"h1"), _u32(0), _u32(0), _u32(READ)),  # READ
        _packet(103, _u32(4), _str(b"r" * READ)),  # DATA
    ),
    (_packet(4, _u32(5), _str(b"h1")), _packet(101, _u32(5), OK)),  # CLOSE
    (
        _packet(13, _u32(6), _str(b"/nope")),  # REMOVE
        _packet(101, _u32(6), _u32(2), _str(b"No such file"), _str(b"")),
    ),
]


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[at : at + size] for at in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1_000_000, 32768, 7919, 13])
def test_the_log_lists_operations_however_the_stream_is_cut(tmp_path: Path, size: int) -> None:
    recorder = SftpRecorder(tmp_path)
    for request, reply in EXCHANGES:
        for chunk in _chunks(request, size):
            recorder.from_client(chunk)
        for chunk in _chunks(reply, size):
            recorder.from_target(chunk)
    assert recorder.close() == [FILES]
    lines = [line.split(" ", 1)[1] for line in (tmp_path / FILES).read_text().splitlines()]
    assert lines == [
        "open /tmp/a (write, create, truncate)",
        f"close /tmp/a: {sum(WRITTEN)} bytes written, {READ} bytes read",
        "remove /nope",
        "refused: remove /nope (No such file)",
    ]
