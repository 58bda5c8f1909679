"""Management > Tenants, in the base tenant: list, create (with the first administrator) and
delete after typing the tenant's name. The same services as `POST`/`DELETE tenants`."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pamnode.http.console.caller import Caller
from pamnode.http.console.csrf import check_same_origin
from pamnode.http.console.forms import FieldErrors, expect_form, form_data, validated
from pamnode.http.console.render import page, redirect, site_base
from pamnode.http.deps import DB, NodeDep
from pamnode.identity import tenants
from pamnode.identity.schemas import TenantIn

router = APIRouter(dependencies=[Depends(check_same_origin)], include_in_schema=False)

# The service's codes that point at a field of this form (it names them differently).
FIELDS = {
    "tenant_exists": "name",
    "invalid_tenant_name": "name",
    "invalid_login": "admin_login",
    "user_exists": "admin_login",
    "weak_password": "admin_password",
}


@router.get("/tenants", response_class=HTMLResponse)
async def tenants_page(request: Request, caller: Caller, db: DB) -> Response:
    found = await tenants.list_tenants(db, caller)
    return page(request, "tenants/list.html", caller, title="Tenants", tenants=found)


@router.get("/tenants/new", response_class=HTMLResponse)
async def tenant_form(request: Request, caller: Caller) -> Response:
    tenants.require_base(caller)
    return page(request, "tenants/_form.html", caller, values={}, errors={})


@router.post("/tenants")
async def add_tenant(request: Request, caller: Caller, db: DB, node: NodeDep) -> Response:
    data = await form_data(request)
    expect_form(request, "tenants/_form.html", data, fields=FIELDS)
    fields = ("name", "admin_login", "admin_password")
    body = validated(
        TenantIn, {**{k: data.get(k, "") for k in fields}, "issuer": data.get("issuer") or None}
    )
    await tenants.create_tenant(
        db, node.keyring, caller, body.name, body.issuer, body.admin_login, body.admin_password
    )
    return redirect(request, f"{site_base(request)}/tenants")


@router.get("/tenants/{name}/delete", response_class=HTMLResponse)
async def delete_form(request: Request, name: str, caller: Caller, db: DB) -> Response:
    tenants.require_base(caller)
    tenant = await tenants.get_tenant(db, name)
    return page(request, "tenants/_delete.html", caller, name=tenant.name, values={}, errors={})


@router.post("/tenants/{name}/delete")
async def delete_tenant(request: Request, name: str, caller: Caller, db: DB) -> Response:
    tenants.require_base(caller)
    data = await form_data(request)
    expect_form(request, "tenants/_delete.html", data, name=name)
    # As GitHub asks before deleting a repository: the name typed out, not a click.
    if data.get("confirm", "").strip() != name:
        raise FieldErrors({"confirm": f"type the tenant's name, {name}, to delete it"})
    await tenants.delete_tenant(db, caller, name)
    return redirect(request, f"{site_base(request)}/tenants")
