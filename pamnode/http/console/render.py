"""Rendering console pages: templates, the base context, redirects, and errors as pages.

The console is a thin layer: routes call the same service functions as the REST API and let
their `PamError`s propagate, so the request's transaction rolls back exactly as it does for
the API. `error_response` (called by the app's one PamError handler) then turns the error
into HTML: the form the route declared with `expect_form`, re-rendered with the message next
to the field at fault, or a 403/404 page (a flash message for htmx requests).
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from pamnode.core.errors import NotFound, PamError
from pamnode.http.console.forms import FormContext, form_errors
from pamnode.http.console.menu import menu_for
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["P"] = Permission


def site_base(request: Request) -> str:
    params = request.path_params
    return f"/ztna/{quote(params['tenant'])}/{quote(params['site'])}"


def _context(request: Request, principal: Principal | None, **context: Any) -> dict[str, Any]:
    return {
        "base": site_base(request),
        "tenant": request.path_params.get("tenant", ""),
        "site": request.path_params.get("site", ""),
        "principal": principal,
        "menu": menu_for(principal) if principal else [],
        "current": request.url.path,
        "node_name": request.app.state.node.settings.node_name,
        **context,
    }


def page(
    request: Request,
    template: str,
    principal: Principal | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A full page or an htmx partial: every template gets the same base context.

    A partial (`_name.html`) asked for outside htmx, e.g. a form posted without JavaScript
    or a dialog's URL opened directly, is shown inside the page layout.
    """
    if Path(template).name.startswith("_") and request.headers.get("hx-request") != "true":
        context["partial"], template = template, "partial_page.html"
    return templates.TemplateResponse(
        request,
        template,
        _context(request, principal, **context),
        status_code=status_code,
        headers=headers,
    )


def redirect(request: Request, path: str) -> Response:
    """Go to another console page: a header htmx follows, or a plain 303."""
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": path})
    return RedirectResponse(path, status_code=303)


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def compact_time(value: datetime) -> str:
    """For a table's time column, whose header says UTC: short enough for one line."""
    return value.strftime("%Y-%m-%d %H:%M:%S")


templates.env.filters["when"] = fmt_time
templates.env.filters["compact_time"] = compact_time


def breakable(signature: str | None) -> Markup:
    """A node signature (`node::tenant::site`) that wraps at its separators, never mid-name."""
    parts = (signature or "").split("::")
    return Markup("::<wbr>").join(Markup('<span class="nowrap">{}</span>').format(p) for p in parts)


templates.env.filters["breakable"] = breakable


@dataclass(frozen=True)
class Pages:
    """Where a paged list is: Previous/Next links that keep the list's filters."""

    offset: int
    size: int
    total: int
    filters: dict[str, str]
    # More than `total` match: the list counted that far (past this page's end).
    capped: bool = False

    @property
    def first(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.offset + self.size, self.total)

    def _link(self, offset: int) -> str:
        return "?" + urlencode({**self.filters, "offset": offset})

    @property
    def previous(self) -> str | None:
        return self._link(max(self.offset - self.size, 0)) if self.offset > 0 else None

    @property
    def next(self) -> str | None:
        return self._link(self.offset + self.size) if self.last < self.total else None


def is_console_request(request: Request) -> bool:
    return is_console_path(request.url.path)


def is_console_path(path: str) -> bool:
    """Console paths are the site's paths outside `/api/`."""
    parts = path.split("/")
    return len(parts) > 4 and parts[1] == "ztna" and parts[4] != "api"


def error_response(request: Request, exc: PamError, status: int) -> Response:
    form: FormContext | None = getattr(request.state, "console_form", None)
    htmx = request.headers.get("hx-request") == "true"
    errors = form_errors(form, exc) if form else None
    if form is not None and errors is not None:
        return page(
            request,
            form.template,
            getattr(request.state, "viewer", None),
            status_code=422,
            errors=errors,
            values=form.values,
            **form.context,
        )
    if status == 401:
        target = f"{site_base(request)}/login"
        if request.method == "GET" and not htmx:
            target += f"?next={quote(request.url.path)}"
        return redirect(request, target)
    principal = getattr(request.state, "viewer", None)
    if htmx:
        # Shown in the page's alert region, whatever element asked.
        return page(
            request,
            "_flash.html",
            principal,
            status_code=status,
            headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"},
            message=exc.message,
            status=status,
        )
    if status == 404 and isinstance(exc, NotFound):
        title = "Not found"
    elif status == 403:
        title = "Not allowed"
    else:
        title = "Request refused"
    return page(
        request, "error.html", principal, status_code=status, title=title, message=exc.message
    )
