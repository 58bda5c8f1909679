"""HSTS: every answer over HTTPS tells the browser to use nothing but HTTPS for this host, so a
later `http://` link or a stripped redirect cannot carry the console's cookie in clear."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A year, the usual value; subdomains are not the node's to speak for.
HSTS = (b"strict-transport-security", b"max-age=31536000")


class StrictTransportSecurity:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), HSTS]}
            await send(message)

        await self.app(scope, receive, with_hsts)
