"""The browser's WebSocket tunnels to a session: `<site base URL>/sessions/{id}/tunnel` (its
owner's), `<site base URL>/sessions/{id}/monitor` (a watcher's, read-only); and the live
typescript of an SSH-proxy shell, `<site base URL>/sessions/{id}/monitor/typescript`
(server-sent events, which only go to the watcher).

Authenticated like the console (its session cookie, from the same origin only) or, for a
program, by an `Authorization: Bearer` header; guacamole-common-js asks for the `guacamole`
subprotocol and sends its display as the query string (width, height, dpi, timezone).
"""

import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.requests import HTTPConnection
from fastapi.responses import StreamingResponse

from pamnode.app.node import Node
from pamnode.core.errors import PamError, Unauthenticated
from pamnode.http.deps import SESSION_COOKIE
from pamnode.http.origins import same_origin
from pamnode.identity.auth import authenticate, bearer_value
from pamnode.identity.principal import Principal
from pamnode.sessions import monitor, shell_monitor, tunnel
from pamnode.sessions.context import SessionContext
from pamnode.sessions.guacamole.handshake import Display
from pamnode.sessions.relay import ClientChannel

router = APIRouter()

SUBPROTOCOL = "guacamole"
# WebSocket close code for a refused handshake ("policy violation").
POLICY_VIOLATION = 1008


class _WebSocketChannel:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def receive(self) -> str | None:
        try:
            return await self.websocket.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            return None

    async def send(self, text: str) -> None:
        try:
            await self.websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError) as exc:
            raise ConnectionError("the browser went away") from exc

    async def close(self, status: int, message: str) -> None:
        # guacamole-common-js reads a close reason as the Guacamole status code.
        # The browser may be gone already; there is nobody left to tell.
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.websocket.close(code=1000, reason=str(status) if status else "")


def _same_origin(connection: HTTPConnection) -> bool:
    origin = connection.headers.get("origin")
    host = connection.headers.get("host", "")
    return origin is None or same_origin(origin, connection.url.scheme, host)


async def _caller(connection: HTTPConnection, node: Node, tenant: str, site: str) -> Principal:
    header = connection.headers.get("authorization")
    if header:
        token = bearer_value(header)
    else:
        token = connection.cookies.get(SESSION_COOKIE, "")
        if not token:
            raise Unauthenticated("log in to use the console", code="session_missing")
        if not _same_origin(connection):
            raise Unauthenticated(
                "a session tunnel opens only from the console's own origin",
                code="cross_origin_refused",
            )
    source = connection.client.host if connection.client else ""
    async with node.database() as db, db.begin():
        principal, _ = await authenticate(db, tenant, site, token, source, node.accounts)
    return principal


Carrier = Callable[
    [SessionContext, Principal, str, ClientChannel, Display], Coroutine[Any, Any, None]
]


async def _serve(
    websocket: WebSocket, tenant: str, site: str, session_id: str, carrier: Carrier
) -> None:
    node: Node = websocket.app.state.node
    try:
        principal = await _caller(websocket, node, tenant, site)
    except PamError as exc:
        # Before accept: the client sees its WebSocket handshake refused (HTTP 403).
        await websocket.close(code=POLICY_VIOLATION, reason=exc.code)
        return
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    display = Display.of(dict(websocket.query_params))
    await carrier(
        node.remote_sessions, principal, session_id, _WebSocketChannel(websocket), display
    )


@router.websocket("/sessions/{session_id}/tunnel")
async def session_tunnel(websocket: WebSocket, tenant: str, site: str, session_id: str) -> None:
    await _serve(websocket, tenant, site, session_id, tunnel.run)


@router.websocket("/sessions/{session_id}/monitor")
async def monitor_tunnel(websocket: WebSocket, tenant: str, site: str, session_id: str) -> None:
    """Monitor: the session live, read-only (sessions/monitor.py)."""
    await _serve(websocket, tenant, site, session_id, monitor.watch)


# A stream beside the tunnels, outside the REST API's schema as they are (docs/sessions.md).
@router.get("/sessions/{session_id}/monitor/typescript", include_in_schema=False)
async def monitor_typescript(
    request: Request, tenant: str, site: str, session_id: str
) -> StreamingResponse:
    """Monitor of an SSH-proxy shell: its typescript live (sessions/shell_monitor.py)."""
    node: Node = request.app.state.node
    principal = await _caller(request, node, tenant, site)
    events = await shell_monitor.watch_shell(node.remote_sessions, principal, session_id)
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        # Nothing between may keep it, or hold it back to gather more.
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
