"""A session's recording as an HTTP answer, the same from the API, the console and a peer."""

from pathlib import Path

from fastapi.responses import FileResponse

from pamnode.sessions.params import RECORDING


def recording_response(path: Path, session_id: str, kind: str) -> FileResponse:
    if kind == RECORDING:
        # The Guacamole stream, for the player (or the main's copy).
        return FileResponse(path, media_type="application/octet-stream")
    # Text a person downloads and reads.
    return FileResponse(
        path, media_type="text/plain; charset=utf-8", filename=f"{session_id}.{kind}.txt"
    )
