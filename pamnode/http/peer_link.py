"""The WebSocket a peer that dials opens to its main: `<site base URL>/peer-link`, on the
main's HTTPS port (no port of its own). Open to anyone, as a login page is: the first
message decides (pamnode/link/answer.py), and nothing is carried before a valid enrolment
code or a signature of the enrolled key."""

import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from pamnode.app.node import Node
from pamnode.link.answer import answer

router = APIRouter()


class _Channel:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def send(self, frame: bytes) -> None:
        try:
            await self.websocket.send_bytes(frame)
        except (WebSocketDisconnect, RuntimeError) as exc:
            raise ConnectionError("the peer went away") from exc

    async def receive(self) -> bytes | None:
        try:
            message = await self.websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        data = message.get("bytes")
        return data if data is not None else (message.get("text") or "").encode()

    async def close(self, reason: str) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.websocket.close(code=1000, reason=reason[:120])


@router.websocket("/peer-link")
async def peer_link(websocket: WebSocket, tenant: str, site: str) -> None:
    node: Node = websocket.app.state.node
    await websocket.accept()
    source = websocket.client.host if websocket.client else ""
    await answer(node.links, _Channel(websocket), tenant, site, source)
