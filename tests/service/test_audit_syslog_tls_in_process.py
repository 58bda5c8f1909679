"""The syslog output over TLS, against a collector in this process (Debian's rsyslog has no TLS
driver without rsyslog-gnutls): frames arrive whole and in order with the collector's
certificate verified, and a collector whose certificate the node does not trust receives
nothing and leaves the cursor where it was."""

from __future__ import annotations

import asyncio
import re
import ssl
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pamnode.app.tls import ensure_self_signed, server_context
from pamnode.audit.stream import SyslogOutput, SyslogTarget

FRAME = re.compile(rb"(\d+) ")


def _row(seq: int) -> Any:
    return SimpleNamespace(
        chain_seq=seq,
        id=seq,
        at=datetime.now(UTC),
        tenant="corp",
        site="root",
        actor="tadmin",
        action="user.create",
        target=f"user-{seq}",
        outcome="success",
        source="127.0.0.1",
        details={},
        prev_hash="0" * 64,
        row_hash="1" * 64,
    )


async def _collector(cert: Path, key: Path, frames: list[bytes]) -> asyncio.Server:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        while chunk := await reader.read(65536):
            buffer += chunk
            while match := FRAME.match(buffer):
                end = match.end() + int(match.group(1))
                if len(buffer) < end:
                    break
                frames.append(buffer[match.end() : end])
                buffer = buffer[end:]
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context(cert, key))


async def test_rows_arrive_over_tls_in_order_and_an_untrusted_collector_gets_nothing(tmp_path):
    cert, key = ensure_self_signed(tmp_path / "collector", "collector", "127.0.0.1")
    frames: list[bytes] = []
    server = await _collector(cert, key, frames)
    port = server.sockets[0].getsockname()[1]
    cursor = tmp_path / "syslog.cursor"
    trusted = ssl.create_default_context(cafile=str(cert))
    output = SyslogOutput(SyslogTarget("127.0.0.1", port, trusted, "main-1"), cursor)
    try:
        await output.send([_row(1), _row(2)])
        await output.send([_row(3)])
        for _ in range(100):
            if len(frames) == 3:
                break
            await asyncio.sleep(0.02)
        assert [re.search(rb'seq="(\d+)"', f).group(1) for f in frames] == [b"1", b"2", b"3"]  # type: ignore[union-attr]
        assert frames[0].startswith(b"<85>1 ")
        assert b" main-1 pamnode - user.create [pamnode@32473 " in frames[0]
        assert output.last_sent() == 3
    finally:
        await output.close()

    other, _ = ensure_self_signed(tmp_path / "other", "other", "127.0.0.1")
    untrusted = ssl.create_default_context(cafile=str(other))
    wrong = SyslogOutput(SyslogTarget("127.0.0.1", port, untrusted, "main-1"), cursor)
    with pytest.raises(ssl.SSLCertVerificationError):
        await wrong.send([_row(4)])
    await asyncio.sleep(0.2)
    assert len(frames) == 3
    assert wrong.last_sent() == 3
    server.close()
    await server.wait_closed()
