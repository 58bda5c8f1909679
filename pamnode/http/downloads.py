"""A session's recording as an HTTP answer, the same from the API, the console and a peer;
an archive written for one answer."""

import asyncio
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from pamnode.sessions.params import ASCIICAST, RECORDING


def recording_response(path: Path, session_id: str, kind: str) -> FileResponse:
    if kind == RECORDING:
        # The Guacamole stream, for the player (or the main's copy).
        return FileResponse(path, media_type="application/octet-stream")
    if kind == ASCIICAST:
        # For the console's terminal player, or asciinema's own (`asciinema play FILE`).
        return FileResponse(
            path, media_type="application/x-asciicast", filename=f"{session_id}.cast"
        )
    # Text a person downloads and reads.
    return FileResponse(
        path, media_type="text/plain; charset=utf-8", filename=f"{session_id}.{kind}.txt"
    )


async def archive_response(write: Callable[[IO[bytes]], None], filename: str) -> FileResponse:
    """An archive `write` makes (off the event loop) in a private temporary file, answered
    and then removed: recordings can be larger than memory should hold."""
    descriptor, name = tempfile.mkstemp(prefix="pamnode-export-", suffix=".tar.gz")
    try:
        with os.fdopen(descriptor, "wb") as sink:
            await asyncio.to_thread(write, sink)
    except BaseException:
        os.unlink(name)
        raise
    return FileResponse(
        name,
        media_type="application/gzip",
        filename=filename,
        background=BackgroundTask(os.unlink, name),
    )
