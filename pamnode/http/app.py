"""The application factory: every area's router under /ztna/{tenant}/{site}/api, one error shape."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from pamnode import __version__
from pamnode.app.node import open_node
from pamnode.app.settings import Settings
from pamnode.audit.service import AuditScope, record
from pamnode.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PamError,
    Throttled,
    Unauthenticated,
)
from pamnode.crypto.cipher import VaultError
from pamnode.crypto.keyring import KeyRingError
from pamnode.http import console, peer_protocol
from pamnode.http.api import assets as assets_api
from pamnode.http.api import assignments as assignments_api
from pamnode.http.api import audit as audit_api
from pamnode.http.api import identity as identity_api
from pamnode.http.api import jobs as jobs_api
from pamnode.http.api import peers as peers_api
from pamnode.http.api import vault as vault_api
from pamnode.http.deps import client_address, get_node
from pamnode.http.limits import RequestLimits
from pamnode.http.refusals import RefusalSampler
from pamnode.jobs.executors.base import Executors
from pamnode.jobs.recovery import reconcile

log = logging.getLogger("pamnode")

SITE_PREFIX = "/ztna/{tenant}/{site}"
API_PREFIX = SITE_PREFIX + "/api"

STATUS = {
    Throttled: 429,
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Unauthenticated: 401,
    Forbidden: 403,
}


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
    action = getattr(request.state, "audit_action", "request.refused")
    extra = {"suppressed": suppressed} if suppressed else {}
    async with get_node(request).sessions.begin() as db:
        record(
            db,
            scope,
            action,
            request.url.path,
            outcome="denied",
            code=exc.code,
            method=request.method,
            **extra,
        )


async def _pam_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PamError)
    status = next(code for kind, code in STATUS.items() if isinstance(exc, kind))
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


async def _vault_error(request: Request, exc: Exception) -> Response:
    if console.is_console_request(request):
        return console.error_response(request, PamError(str(exc), code="vault_unavailable"), 503)
    return _error(503, "vault_unavailable", str(exc))


def create_app(settings: Settings, executors: Executors | None = None) -> FastAPI:
    """The node's ASGI app; `executors` replaces the real SSH/WinRM ones (in-process tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.node = await open_node(settings, executors)
        await reconcile(app.state.node.jobs)
        try:
            yield
        finally:
            await app.state.node.close()

    app = FastAPI(title="pamnode", version=__version__, lifespan=lifespan)
    app.state.refusals = RefusalSampler()
    app.add_exception_handler(PamError, _pam_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(PoolTimeout, _busy)
    app.add_exception_handler(VaultError, _vault_error)
    app.add_exception_handler(KeyRingError, _vault_error)

    @app.get("/healthz", tags=["node"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "node": settings.node_name, "version": __version__}

    for router in (
        identity_api.router,
        audit_api.router,
        peer_protocol.router,
        assets_api.router,
        vault_api.router,
        peers_api.router,
        assignments_api.router,
        jobs_api.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    # The web console at each site's base URL, over the same services.
    console.install(app, SITE_PREFIX)
    # Outermost: refused before routing, authentication or reading a large body.
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_body_bytes)
    return app
