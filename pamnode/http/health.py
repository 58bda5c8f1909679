"""The node's own endpoints, outside any tenant: liveness, readiness, and `/` (the base
tenant's console, where a first administrator logs in)."""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from pamnode import __version__
from pamnode.core.errors import Unavailable
from pamnode.crypto.keyring import KeyRingError
from pamnode.http.deps import get_node
from pamnode.identity.models import Tenant
from pamnode.identity.names import BASE_TENANT, ROOT_SITE

router = APIRouter(tags=["node"])


@router.get("/", include_in_schema=False)
async def home() -> RedirectResponse:
    return RedirectResponse(f"/ztna/{BASE_TENANT}/{ROOT_SITE}/")


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, str]:
    """The process answers (a liveness probe: it says nothing of the database)."""
    node = get_node(request)
    return {"status": "ok", "node": node.settings.node_name, "version": __version__}


@router.get("/readyz")
async def readyz(request: Request) -> dict[str, str]:
    """The node can serve: its database answers and its key ring opens the base tenant's key
    (a readiness probe). 503 `not_ready`, naming what failed, otherwise."""
    node = get_node(request)
    try:
        async with node.database() as db:
            base = await db.scalar(select(Tenant.id).where(Tenant.name == BASE_TENANT))
    except Exception as exc:
        message = f"the database does not answer: {type(exc).__name__}"
        raise Unavailable(message, code="not_ready") from exc
    if base is None:
        raise Unavailable("the database holds no base tenant", code="not_ready")
    try:
        node.keyring.active_key(base)
    except KeyRingError as exc:
        raise Unavailable(f"the key ring cannot be used: {exc.message}", code="not_ready") from exc
    return {"status": "ready", "database": "ok", "key_ring": "ok"}
