"""Every request gets an id (the caller's `X-Request-ID` when sane, else a new one), held for
the log lines written while it is served and answered in the response's `X-Request-ID`."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pamnode.core.request_id import HEADER, REQUEST_ID, accepted_request_id

_HEADER = HEADER.lower().encode()


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(_HEADER)
        request_id = accepted_request_id(given.decode("latin-1") if given else None)
        answered = [(_HEADER, request_id.encode())]

        async def with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *answered]}
            await send(message)

        token = REQUEST_ID.set(request_id)
        await self.app(scope, receive, with_id if scope["type"] == "http" else send)
        # Kept when the app raised: the server-error handler (`http.errors`) and the server's
        # own lines about the failure run outside this middleware and are still this
        # request's. The server serves each request in a task of its own, which ends with it.
        REQUEST_ID.reset(token)
