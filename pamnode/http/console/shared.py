"""What every console page shares: templates, the menu, forms and their errors, CSRF, errors.

The console is a thin layer: routes call the same service functions as the REST API and let
their `PamError`s propagate, so the request's transaction rolls back exactly as it does for
the API. `error_response` (called by the app's one PamError handler) then turns the error
into HTML: the form the route declared with `expect_form`, re-rendered with the message next
to the field at fault, or a 403/404 page (a flash message for htmx requests).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from pamnode.core.codes import Code
from pamnode.core.errors import Conflict, Forbidden, InvalidInput, NotFound, PamError
from pamnode.http.deps import ConsoleCaller
from pamnode.identity.models import Site, Tenant, User
from pamnode.identity.principal import Principal
from pamnode.identity.roles import Permission, SiteRole
from pamnode.identity.tenants import BASE_TENANT

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["P"] = Permission

# Form fields that hold secrets: never echoed back into a re-rendered form.
SECRET_FIELDS = frozenset({"password", "access_token", "private_key", "passphrase"})

M = TypeVar("M", bound=BaseModel)


class FieldErrors(InvalidInput):
    """Input refused before reaching a service, with one message per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()), code="invalid_input")
        self.errors = errors


def validated(model: type[M], data: Mapping[str, Any]) -> M:
    """Check form input with the REST API's own body model; errors name the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            names = [part for part in error["loc"] if isinstance(part, str)]
            errors.setdefault(names[-1] if names else "", error["msg"])
        raise FieldErrors(errors) from None


@dataclass
class FormContext:
    """The partial to re-render when the route's service call refuses the input."""

    template: str
    context: dict[str, Any]
    values: dict[str, str]
    # Extra code -> field mappings where the form names a field differently.
    fields: dict[str, str] = field(default_factory=dict)
    # The login form shows refused credentials in the form; elsewhere they end the session.
    auth_errors: bool = False


def expect_form(
    request: Request,
    template: str,
    values: Mapping[str, str],
    *,
    fields: dict[str, str] | None = None,
    auth_errors: bool = False,
    **context: Any,
) -> None:
    shown = {k: v for k, v in values.items() if k not in SECRET_FIELDS}
    request.state.console_form = FormContext(
        template, context, shown, fields or {}, auth_errors=auth_errors
    )


async def form_data(request: Request) -> dict[str, str]:
    """The submitted fields as plain strings (repeated fields keep their last value)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def checked(data: Mapping[str, str], name: str) -> bool:
    return name in data


def snapshot(row: object, *names: str) -> dict[str, Any]:
    """Plain values of a row, for a form that may be re-rendered after the rollback.

    A refused change rolls the request's transaction back, which expires every row it
    loaded; the error handler can then read only what was copied out before.
    """
    return {name: getattr(row, name) for name in names}


def _detached(principal: Principal) -> Principal:
    """The caller, readable after a rollback (menus and headers of error pages need it)."""
    return Principal(
        User(id=principal.user.id, login=principal.user.login),
        Tenant(id=principal.tenant.id, name=principal.tenant.name),
        Site(id=principal.site.id, name=principal.site.name),
        principal.roles,
        principal.via,
        principal.source,
    )


async def _console_caller(request: Request, caller: ConsoleCaller) -> Principal:
    request.state.viewer = _detached(caller)
    return caller


# What console routes take: the cookie's caller, with a copy kept for error pages.
Caller = Annotated[Principal, Depends(_console_caller)]


# --- pages -----------------------------------------------------------------------------------


def site_base(request: Request) -> str:
    params = request.path_params
    return f"/ztna/{quote(params['tenant'])}/{quote(params['site'])}"


@dataclass(frozen=True)
class MenuItem:
    label: str
    path: str


@dataclass(frozen=True)
class MenuGroup:
    label: str
    items: list[MenuItem]


def menu_for(principal: Principal) -> list[MenuGroup]:
    """Only what the caller's site roles let them open; the routes refuse the rest anyway."""
    can = principal.can
    in_site = principal.tenant.name != BASE_TENANT
    # The service role is for peer calls; a user with no site role may still hold asset
    # permissions, so only service-only users lose the library and the Jobs report.
    service_only = principal.roles == {SiteRole.SERVICE}
    groups = [
        MenuGroup(
            "Management",
            [
                item
                for item, allowed in (
                    (MenuItem("Users", "users"), can(Permission.USERS_READ)),
                    (MenuItem("Site Roles", "site-roles"), can(Permission.ROLES_READ)),
                    (MenuItem("API Tokens", "api-tokens"), can(Permission.API_TOKENS_READ)),
                    (MenuItem("Scripts", "scripts"), in_site and can(Permission.SCRIPTS_READ)),
                )
                if allowed
            ],
        ),
        MenuGroup(
            "Configuration",
            [MenuItem("Peer Nodes", "peer-nodes")]
            if in_site and can(Permission.PEERS_READ)
            else [],
        ),
        MenuGroup(
            "Assets",
            [MenuItem("Asset library", "assets")] if in_site and not service_only else [],
        ),
        MenuGroup(
            "Reports",
            [
                item
                for item, allowed in (
                    (MenuItem("Jobs", "jobs"), in_site and not service_only),
                    (MenuItem("Audit", "audit"), can(Permission.AUDIT_READ)),
                )
                if allowed
            ],
        ),
    ]
    return [group for group in groups if group.items]


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


templates.env.filters["when"] = fmt_time


# --- CSRF ------------------------------------------------------------------------------------


class CrossSiteRefused(Forbidden):
    code = "csrf_refused"


def check_same_origin(request: Request) -> None:
    """A console POST must come from one of this node's own pages.

    The session cookie is SameSite=Strict, so a request started by another site never
    carries it. On top of that, browsers name where a POST comes from: `Sec-Fetch-Site`
    must say same-origin and `Origin` must be this node. A client that sends neither must
    send htmx's `HX-Request` header, which a cross-site form cannot set (and a script could
    only after a CORS preflight that this node never answers).
    """
    if request.method != "POST":
        return
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site != "same-origin":
        raise CrossSiteRefused(f"a {fetch_site} request may not change this site")
    origin = request.headers.get("origin")
    if origin is not None:
        if urlsplit(origin).netloc != request.headers.get("host", ""):
            raise CrossSiteRefused(f"a request from {origin[:100]} may not change this site")
    elif request.headers.get("hx-request") != "true":
        raise CrossSiteRefused("console forms are sent by the console's own pages only")


# --- errors ----------------------------------------------------------------------------------


def is_console_request(request: Request) -> bool:
    """Console paths are the site's paths outside `/api/`."""
    parts = request.url.path.split("/")
    return len(parts) > 4 and parts[1] == "ztna" and parts[4] != "api"


def _form_errors(form: FormContext, exc: PamError) -> dict[str, str] | None:
    if isinstance(exc, FieldErrors):
        return exc.errors
    where = form.fields.get(exc.code) or Code.field_of(exc.code)
    if where:
        return {where: exc.message}
    if isinstance(exc, InvalidInput | Conflict) or form.auth_errors:
        # Not tied to one field: shown above the form.
        return {"": exc.message}
    return None


def error_response(request: Request, exc: PamError, status: int) -> Response:
    form: FormContext | None = getattr(request.state, "console_form", None)
    htmx = request.headers.get("hx-request") == "true"
    errors = _form_errors(form, exc) if form else None
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
