"""The console's home page: the seed's getting-started checklist and the site's counts, or, in
the base tenant, the way to its Tenants page."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pamnode.http.console.caller import Caller
from pamnode.http.console.csrf import check_same_origin
from pamnode.http.console.render import page
from pamnode.http.deps import DB
from pamnode.identity import tenants
from pamnode.identity.names import BASE_TENANT
from pamnode.identity.roles import Permission
from pamnode.overview import site as overview

router = APIRouter(dependencies=[Depends(check_same_origin)], include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, caller: Caller, db: DB) -> Response:
    in_base = caller.tenant.name == BASE_TENANT
    site = (
        None
        if in_base or not overview.may_see(caller)
        else await overview.site_overview(db, caller)
    )
    tenant_count = (
        len(await tenants.list_tenants(db, caller))
        if in_base and caller.can(Permission.TENANTS_MANAGE)
        else None
    )
    return page(
        request, "home.html", caller, title="Home", overview=site, tenant_count=tenant_count
    )
