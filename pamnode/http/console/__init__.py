"""The web console: server-rendered pages at each site's base URL, over the same services."""

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from pamnode.http.console.pages import assets as assets_pages
from pamnode.http.console.pages import directories as directories_pages
from pamnode.http.console.pages import home as home_pages
from pamnode.http.console.pages import identity as identity_pages
from pamnode.http.console.pages import jobs as jobs_pages
from pamnode.http.console.pages import peers as peers_pages
from pamnode.http.console.pages import sessions as sessions_pages
from pamnode.http.console.pages import tenants as tenants_pages
from pamnode.http.console.render import HERE, error_response, is_console_request

__all__ = ["error_response", "install", "is_console_request"]

# Scripts and styles come only from this node (htmx and guacamole-common-js are vendored);
# nothing inline, no frames. Session screens draw images from blob: URLs.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def install(app: FastAPI, site_prefix: str) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (
        home_pages,
        identity_pages,
        directories_pages,
        tenants_pages,
        peers_pages,
        assets_pages,
        jobs_pages,
        sessions_pages,
    ):
        app.include_router(module.router, prefix=site_prefix)

    @app.middleware("http")
    async def console_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if is_console_request(request) or request.url.path.startswith("/static/"):
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
        if is_console_request(request):
            # Pages show per-user data: never from a shared or back-button cache.
            response.headers.setdefault("Cache-Control", "no-store")
        return response
