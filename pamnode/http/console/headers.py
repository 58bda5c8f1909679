"""The headers every console page and static file carries: where scripts may come from, no
sniffing, no referrer beyond this node, and no caching of per-user pages.

Plain ASGI rather than Starlette's `BaseHTTPMiddleware`, which wraps every request, console
or API, in tasks and streams of its own: under a flood of refused logins that wrapping was the
largest cost of each refusal (bench/flood.py, docs/benchmarks.md).
"""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pamnode.http.console.render import is_console_path

# Scripts and styles come only from this node (htmx and guacamole-common-js are vendored);
# nothing inline, no frames. Session screens draw images from blob: URLs.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# The terminal player (asciinema-player) runs its terminal emulator as WebAssembly, which
# compiling needs this; it allows no JavaScript eval. Only its page sends it (a page's own
# header is kept, below).
TERMINAL_PLAYER_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'")
_ANY = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# Pages show per-user data: never from a shared or back-button cache.
_PAGES = {**_ANY, "Cache-Control": "no-store"}


class ConsoleHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        wanted = _PAGES if is_console_path(path) else _ANY if path.startswith("/static/") else {}
        if not wanted:
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)
