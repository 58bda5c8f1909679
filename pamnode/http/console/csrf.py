"""The console's rule against cross-site requests (docs/console.md)."""

from fastapi import Request

from pamnode.core.errors import Forbidden
from pamnode.http.origins import same_origin


class CrossSiteRefused(Forbidden):
    code = "csrf_refused"


def check_same_origin(request: Request) -> None:
    """A console POST must come from one of this node's own pages.

    The session cookie is SameSite=Strict, so a request started by another site never
    carries it. On top of that, browsers name where a POST comes from: `Sec-Fetch-Site`
    must say same-origin and `Origin` must be this node (scheme, host and port). A client
    that sends neither must send htmx's `HX-Request` header, which a cross-site form cannot
    set (and a script could only after a CORS preflight that this node never answers).
    """
    if request.method != "POST":
        return
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site != "same-origin":
        raise CrossSiteRefused(f"a {fetch_site} request may not change this site")
    origin = request.headers.get("origin")
    if origin is not None:
        if not same_origin(origin, request.url.scheme, request.headers.get("host", "")):
            raise CrossSiteRefused(f"a request from {origin[:100]} may not change this site")
    elif request.headers.get("hx-request") != "true":
        raise CrossSiteRefused("console forms are sent by the console's own pages only")
