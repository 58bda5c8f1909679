"""How each kind of error (core/errors.py) is spelled on the wire and in the console.

One body everywhere, for every status (the framework's own 404 and 405, and 500, included):
`{"error": {"code", "message"}}`. Refusals (401, 403, 429) are audited,
sampled by `refusals.RefusalSampler`; a saturated request pool is 503 with Retry-After.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from pamnode.audit.actions import AuditAction
from pamnode.audit.service import AuditScope
from pamnode.core.errors import (
    InvalidInput,
    NotFound,
    PamError,
    Throttled,
    http_status,
)
from pamnode.core.request_id import HEADER, REQUEST_ID
from pamnode.http import console
from pamnode.http.deps import client_address, get_node
from pamnode.http.refusals import RefusalSampler

log = logging.getLogger("pamnode")


def _error(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


async def _audit_refusal(request: Request, exc: PamError) -> None:
    """Refusals are audited in a transaction of their own: the request's was rolled back."""
    params = request.path_params
    if "tenant" not in params:
        return
    scope = AuditScope(
        tenant=params["tenant"][:63],
        site=params.get("site", "")[:63],
        actor=getattr(request.state, "actor", "anonymous")[:128],
        source=client_address(request),
    )
    kind = (scope.tenant, scope.site, scope.actor, scope.source, exc.code)
    suppressed = request.app.state.refusals.admit(kind)
    if suppressed is None:
        return
    action = getattr(request.state, "audit_action", AuditAction.REQUEST_REFUSED)
    extra = {"suppressed": suppressed} if suppressed else {}
    await get_node(request).audit_apart.record(
        scope, action, request.url.path, "denied", code=exc.code, method=request.method, **extra
    )


async def _pam_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PamError)
    status = http_status(exc)
    if status in (401, 403, 429):
        await _audit_refusal(request, exc)
    if console.is_console_request(request):
        response = console.error_response(request, exc, status)
    else:
        response = _error(status, exc.code, exc.message)
    if isinstance(exc, Throttled):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"] if part != "body")
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    if console.is_console_request(request):
        return console.error_response(request, InvalidInput("; ".join(problems)), 422)
    return _error(422, "invalid_input", "; ".join(problems))


# Seconds a client is asked to wait when every request connection stayed busy.
BUSY_RETRY_AFTER_S = 2


async def _busy(_request: Request, _exc: Exception) -> JSONResponse:
    # No connection of the request pool came free within its short wait: say so at once
    # rather than queue the caller behind work the node cannot take now.
    response = _error(503, "node_busy", "the node is saturated; retry in a moment")
    response.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
    return response


async def _integrity_error(_request: Request, exc: Exception) -> JSONResponse:
    # Two requests raced for the same unique name; the service checks catch the usual case.
    log.warning("integrity error: %s", type(exc).__name__)
    return _error(409, "conflict", "the change conflicts with data written at the same time")


async def _framework_error(request: Request, exc: Exception) -> Response:
    """What the framework raises itself (no route, wrong method), in the same body as ours."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    path = request.url.path[:200]
    error: PamError
    if status == 404:
        error = NotFound(f"nothing is at {path}", code="not_found")
    elif status == 405:
        error = PamError(f"{request.method} is not allowed on {path}", code="method_not_allowed")
    else:
        error = PamError(str(exc.detail))
    if console.is_console_request(request) and status == 404:
        return console.error_response(request, error, status)
    response = _error(status, error.code, error.message)
    response.headers.update(exc.headers or {})
    return response


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    # The server logs the traceback; the caller learns nothing of the node's internals.
    log.error("request failed: %s", type(exc).__name__)
    response = _error(500, "internal_error", "the node failed to answer this request; see its log")
    # Answered outside the request-id middleware (`http.request_id`), which left the id set.
    request_id = REQUEST_ID.get()
    if request_id:
        response.headers[HEADER] = request_id
    return response


def install(app: FastAPI) -> None:
    app.state.refusals = RefusalSampler()
    app.add_exception_handler(PamError, _pam_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(PoolTimeout, _busy)
    app.add_exception_handler(StarletteHTTPException, _framework_error)
    app.add_exception_handler(Exception, _unexpected)
