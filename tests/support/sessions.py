"""Sessions in tests: open one, wait for its state, read its typescript."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx

from tests.support.identity import expect


def open_session(client: httpx.Client, asset_id: str) -> dict[str, Any]:
    return expect(client.post(f"assets/{asset_id}/sessions"), 201)


def wait_session(
    client: httpx.Client, session_id: str, states: set[str], timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = expect(client.get(f"sessions/{session_id}"), 200)
        if found["state"] in states:
            return found
        time.sleep(0.2)
    raise AssertionError(f"session {session_id} not in {sorted(states)} after {timeout} s")


def recording_sha256(client: httpx.Client, session_id: str, kind: str) -> str:
    """The SHA-256 of the recording as the node hands it out."""
    response = client.get(f"sessions/{session_id}/recording", params={"kind": kind})
    assert response.status_code == 200, response.text
    return hashlib.sha256(response.content).hexdigest()


def typescript(client: httpx.Client, session_id: str) -> str:
    response = client.get(f"sessions/{session_id}/recording", params={"kind": "typescript"})
    assert response.status_code == 200, response.text
    return response.text
