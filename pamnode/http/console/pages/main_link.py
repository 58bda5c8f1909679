"""Configuration > Main Link in a peer's console: its site's enrolment at the main it dials."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pamnode.core.errors import NotFound
from pamnode.http.console.caller import Caller
from pamnode.http.console.csrf import check_same_origin
from pamnode.http.console.forms import expect_form, form_data, validated
from pamnode.http.console.render import page, redirect, site_base
from pamnode.http.deps import DB, NodeDep
from pamnode.link import main_link
from pamnode.link.keys import key_fingerprint
from pamnode.link.schemas import MainLinkIn

router = APIRouter(dependencies=[Depends(check_same_origin)], include_in_schema=False)


@router.get("/main-link", response_class=HTMLResponse)
async def main_link_page(request: Request, caller: Caller, db: DB, node: NodeDep) -> Response:
    try:
        found = await main_link.read(db, caller, node.uplinks)
    except NotFound:
        found = None
    return page(
        request,
        "link/main_link.html",
        caller,
        title="Main Link",
        found=found,
        key_sha256=key_fingerprint(found.link.public_key) if found else None,
        values={},
        errors={},
    )


@router.post("/main-link")
async def enrol(request: Request, caller: Caller, db: DB, node: NodeDep) -> Response:
    data = await form_data(request)
    expect_form(request, "link/_enrol_form.html", data)
    body = validated(MainLinkIn, data)
    await main_link.enrol(
        db, node.keyring, caller, node.uplinks, body.main_url, body.code, body.fingerprint
    )
    return redirect(request, f"{site_base(request)}/main-link")


@router.post("/main-link/forget")
async def forget(request: Request, caller: Caller, db: DB, node: NodeDep) -> Response:
    await main_link.forget(db, caller, node.uplinks)
    return redirect(request, f"{site_base(request)}/main-link")
