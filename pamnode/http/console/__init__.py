"""The web console: server-rendered pages at each site's base URL, over the same services."""

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from pamnode.http.console.headers import ConsoleHeaders
from pamnode.http.console.pages import account as account_pages
from pamnode.http.console.pages import assets as assets_pages
from pamnode.http.console.pages import directories as directories_pages
from pamnode.http.console.pages import home as home_pages
from pamnode.http.console.pages import identity as identity_pages
from pamnode.http.console.pages import jobs as jobs_pages
from pamnode.http.console.pages import main_link as main_link_pages
from pamnode.http.console.pages import peers as peers_pages
from pamnode.http.console.pages import sessions as sessions_pages
from pamnode.http.console.pages import tenants as tenants_pages
from pamnode.http.console.render import HERE, error_response, is_console_request

__all__ = ["ROUTERS", "error_response", "install", "is_console_request"]

# The pages, which http/app.py includes at each site's base URL.
ROUTERS = tuple(
    module.router
    for module in (
        home_pages,
        identity_pages,
        account_pages,
        directories_pages,
        tenants_pages,
        peers_pages,
        main_link_pages,
        assets_pages,
        jobs_pages,
        sessions_pages,
    )
)


def install(app: FastAPI) -> None:
    """The console's static files and the headers of its answers, on `app`."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(ConsoleHeaders)
