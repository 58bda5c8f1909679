"""Limits every request meets before routing and authentication.

- A body larger than `max_body_bytes` is refused with 413 as soon as that is known (from
  Content-Length, or while it streams in), so an anonymous caller cannot make the node read
  50 MB before a 401.
- A path or query holding the NUL character is refused with 422: PostgreSQL cannot store it,
  and no name or id of pamnode contains it. (JSON bodies are checked by `core.bodies.Strict`.)
"""

import json
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestLimits:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        if "\x00" in scope["path"] or "\x00" in unquote(query):
            await _refuse(send, 422, "invalid_input", "the URL holds a NUL character")
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _refuse(send, 413, "body_too_large", self._too_large())
            return
        seen = 0
        started = refused = False

        async def counted() -> Message:
            # Past the limit, answer 413 at once and tell the app the client has gone, so it
            # stops reading; whatever it answers then is dropped.
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes and not started:
                    refused = True
                    await _refuse(send, 413, "body_too_large", self._too_large())
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, watched)

    def _too_large(self) -> str:
        return f"the request body is larger than {self.max_body_bytes} bytes"


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
