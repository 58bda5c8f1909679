"""The console's own rules, without a browser: which POSTs it accepts, which paths are its own,
and how refused input is tied to a field."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from pamnode.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from pamnode.http.console.csrf import CrossSiteRefused, check_same_origin
from pamnode.http.console.forms import FieldErrors, FormContext, form_errors, validated
from pamnode.http.console.render import is_console_request
from pamnode.identity.schemas import UserIn

HOST = "node.example:6443"


def request(method: str = "POST", path: str = "/ztna/t/s/users", **headers: str) -> Request:
    raw = [(b"host", HOST.encode())]
    raw += [
        (name.replace("_", "-").lower().encode(), value.encode()) for name, value in headers.items()
    ]
    scope = {"type": "http", "scheme": "https", "method": method, "path": path, "headers": raw}
    return Request(scope)


@pytest.mark.parametrize(
    "headers",
    [
        {"hx_request": "true"},
        {"origin": f"https://{HOST}", "sec_fetch_site": "same-origin"},
        {"origin": f"https://{HOST}"},
    ],
)
def test_posts_from_the_console_pass(headers):
    check_same_origin(request(**headers))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"origin": "https://evil.example", "hx_request": "true"},
        {"sec_fetch_site": "cross-site", "hx_request": "true"},
        {"sec_fetch_site": "same-site", "origin": f"https://{HOST}"},
        {"origin": "null", "hx_request": "true"},
        # Same host and port, another scheme: a page served in clear is not the console.
        {"origin": f"http://{HOST}", "hx_request": "true"},
        {"origin": "https://node.example:6444", "hx_request": "true"},
    ],
)
def test_other_posts_are_refused(headers):
    with pytest.raises(CrossSiteRefused) as refused:
        check_same_origin(request(**headers))
    assert isinstance(refused.value, Forbidden)


def test_reads_need_no_header():
    check_same_origin(request("GET"))


@pytest.mark.parametrize(
    ("path", "console"),
    [
        ("/ztna/t/s/", True),
        ("/ztna/t/s/users", True),
        ("/ztna/t/s/api/users", False),
        ("/ztna/t/s/api", False),
        ("/healthz", False),
        ("/static/htmx.min.js", False),
    ],
)
def test_console_paths(path, console):
    assert is_console_request(request("GET", path)) is console


def test_validation_errors_name_the_field():
    with pytest.raises(FieldErrors) as refused:
        validated(UserIn, {"login": "", "password": "x" * 300})
    assert set(refused.value.errors) == {"login", "password"}


def form(**extra) -> FormContext:
    return FormContext("x.html", {}, {}, **extra)


def test_service_errors_land_on_their_field_or_above_the_form():
    assert form_errors(form(), Conflict("taken", code="user_exists")) == {"login": "taken"}
    assert form_errors(form(), InvalidInput("bad", code="something_else")) == {"": "bad"}
    missing = NotFound("no such user", code="user_not_found")
    assert form_errors(form(fields={"user_not_found": "principal"}), missing) == {
        "principal": "no such user"
    }
    # A refusal is not an input problem: it becomes the 403 page, not a form message.
    assert form_errors(form(), Forbidden("no", code="permission_denied")) is None
    assert form_errors(form(auth_errors=True), Forbidden("locked", code="user_locked")) == {
        "": "locked"
    }
